#include "nn/linear.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/ops.h"
#include "nn/init.h"

namespace gn::nn {

Linear::Linear(std::int64_t in, std::int64_t out, Generator& gen, bool with_bias, DType dtype, Device device)
    : in_(in), out_(out) {
  GN_CHECK(in > 0 && out > 0, "Linear: in_features and out_features must be > 0, got Linear({}, {})", in, out);
  GN_CHECK(is_floating(dtype), "Linear({}, {}): dtype must be float32 or float64, got {}", in, out, dtype_name(dtype));
  weight = Tensor::empty({out, in}, dtype, device);
  kaiming_uniform_(weight, gen, std::sqrt(5.0));
  register_parameter("weight", weight);
  if (with_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    bias = Tensor::empty({out}, dtype, device);
    uniform_(bias, gen, -bound, bound);
    register_parameter("bias", bias);
  }
}

Tensor Linear::forward(const Tensor& x) {
  GN_CHECK(x.defined(), "Linear({}, {}): input is an undefined tensor", in_, out_);
  GN_CHECK(x.dim() == 2 && x.size(1) == in_, "Linear({}, {}): expects input of shape (B, {}), got {}", in_, out_, in_,
           to_string(x.shape()));
  return gn::linear(x, weight, bias);
}

void Linear::stacked_parameter_grads(const Tensor& h, const Tensor& deltas, int num_tasks, std::span<Tensor> grads) {
  const std::int64_t B = h.size(0), TD = num_tasks * out_;
  GN_CHECK(h.dim() == 2 && h.size(1) == in_ && deltas.dim() == 2 && deltas.size(0) == B && deltas.size(1) == TD,
           "Linear({}, {}) stacked gradients: h {} and deltas {} for {} tasks, expected (B, {}) and (B, {})", in_, out_,
           to_string(h.shape()), to_string(deltas.shape()), num_tasks, in_, TD);
  GN_CHECK(grads.size() == (bias.defined() ? 2u : 1u) && grads[0].numel() == TD * in_ &&
               (!bias.defined() || grads[1].numel() == TD),
           "Linear({}, {}) stacked gradients: wrong output buffers", in_, out_);
  GN_DISPATCH_FLOAT(h.dtype(), "Linear stacked gradients", [&] {
    // (T*out, B) x (B, in): task t's weight gradient in rows [t*out, (t+1)*out).
    dispatch::gemm<scalar_t>(h.device(), true, false, TD, in_, B, scalar_t(1), deltas.data<scalar_t>(),
                             h.data<scalar_t>(), scalar_t(0), grads[0].data<scalar_t>());
    if (bias.defined())
      dispatch::sum_axis<scalar_t>(h.device(), 1, B, TD, deltas.data<scalar_t>(), scalar_t(1),
                                   grads[1].data<scalar_t>());
  });
}

void Linear::input_grad(const Tensor& delta, Tensor& grad_h) {
  const std::int64_t B = delta.size(0);
  GN_CHECK(
      delta.dim() == 2 && delta.size(1) == out_ && grad_h.dim() == 2 && grad_h.size(0) == B && grad_h.size(1) == in_,
      "Linear({}, {}) input gradient: delta {} and grad_h {}", in_, out_, to_string(delta.shape()),
      to_string(grad_h.shape()));
  GN_DISPATCH_FLOAT(delta.dtype(), "Linear input gradient", [&] {  // (B, out) x (out, in)
    dispatch::gemm<scalar_t>(delta.device(), false, false, B, in_, out_, scalar_t(1), delta.data<scalar_t>(),
                             weight.data<scalar_t>(), scalar_t(0), grad_h.data<scalar_t>());
  });
}

}  // namespace gn::nn
