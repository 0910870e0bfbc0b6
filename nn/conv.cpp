#include "nn/conv.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/dispatch_conv.h"
#include "core/ops.h"
#include "nn/init.h"

namespace gn::nn {
namespace {

// weight: kaiming_uniform_(a = sqrt(5)); bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from the weight.
void init_conv(Tensor& weight, Tensor& bias, Generator& gen) {
  kaiming_uniform_(weight, gen, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(compute_fans(weight).fan_in));
    uniform_(bias, gen, -bound, bound);
  }
}

void check_ctor(const char* layer, std::int64_t in, std::int64_t out, Size2 kernel, DType dtype) {
  GN_CHECK(in > 0 && out > 0 && kernel.h > 0 && kernel.w > 0,
           "{}({}, {}, kernel ({}, {})): channels and kernel sizes must be > 0", layer, in, out, kernel.h, kernel.w);
  GN_CHECK(is_floating(dtype), "{}({}, {}): dtype must be float32 or float64, got {}", layer, in, out,
           dtype_name(dtype));
}

}  // namespace

Conv2d::Conv2d(std::int64_t in, std::int64_t out, Size2 kernel, Generator& gen, Conv2dOptions options, DType dtype,
               Device device)
    : in_(in), out_(out), kernel_(kernel), options_(options) {
  check_ctor("Conv2d", in, out, kernel, dtype);
  weight = Tensor::empty({out, in, kernel.h, kernel.w}, dtype, device);
  if (options.bias) bias = Tensor::empty({out}, dtype, device);
  init_conv(weight, bias, gen);
  register_parameter("weight", weight);
  if (options.bias) register_parameter("bias", bias);
}

Tensor Conv2d::forward(const Tensor& x) {
  GN_CHECK(x.defined(), "Conv2d({}, {}): input is an undefined tensor", in_, out_);
  GN_CHECK(x.dim() == 4 && x.size(1) == in_, "Conv2d({}, {}): expects input of shape (B, {}, H, W), got {}", in_, out_,
           in_, to_string(x.shape()));
  return conv2d(x, weight, bias, options_.stride, options_.padding, options_.dilation);
}

ConvShape Conv2d::shape_for(const Tensor& h) const {
  ConvShape s;
  s.batch = h.size(0), s.in_channels = in_, s.in_h = h.size(2), s.in_w = h.size(3);
  s.out_channels = out_, s.kernel_h = kernel_.h, s.kernel_w = kernel_.w;
  s.stride_h = options_.stride.h, s.stride_w = options_.stride.w;
  s.pad_h = options_.padding.h, s.pad_w = options_.padding.w;
  s.dilation_h = options_.dilation.h, s.dilation_w = options_.dilation.w;
  s.out_h = conv_out_size(s.in_h, s.kernel_h, s.stride_h, s.pad_h, s.dilation_h);
  s.out_w = conv_out_size(s.in_w, s.kernel_w, s.stride_w, s.pad_w, s.dilation_w);
  GN_CHECK(s.out_h >= 1 && s.out_w >= 1, "Conv2d({}, {}): kernel ({}, {}) does not fit input {} (padding ({}, {}))",
           in_, out_, kernel_.h, kernel_.w, to_string(h.shape()), s.pad_h, s.pad_w);
  return s;
}

void Conv2d::stacked_parameter_grads(const Tensor& h, const Tensor& deltas, int num_tasks, std::span<Tensor> grads) {
  GN_CHECK(h.defined() && deltas.defined() && h.dim() == 4 && h.size(1) == in_ && num_tasks >= 1,
           "Conv2d({}, {}) stacked gradients: h {} must be (B, {}, H, W) and num_tasks ({}) >= 1", in_, out_,
           h.defined() ? to_string(h.shape()) : "undefined", in_, num_tasks);
  const ConvShape s = shape_for(h);
  const Shape want{s.batch, num_tasks * out_, s.out_h, s.out_w};
  GN_CHECK(deltas.shape() == want, "Conv2d({}, {}) stacked gradients: deltas {} for {} tasks and h {}, expected {}",
           in_, out_, to_string(deltas.shape()), num_tasks, to_string(h.shape()), to_string(want));
  check_same_dtype_device(h, deltas, "Conv2d stacked gradients");
  GN_CHECK(
      grads.size() == (bias.defined() ? 2u : 1u) && grads[0].defined() &&
          grads[0].numel() == num_tasks * weight.numel() &&
          (!bias.defined() || (grads[1].defined() && grads[1].numel() == num_tasks * out_)),
      "Conv2d({}, {}) stacked gradients: wrong output buffers (expected weight (T, {}, {}, {}, {}) and bias (T, {}))",
      in_, out_, out_, in_, kernel_.h, kernel_.w, out_);
  GN_DISPATCH_FLOAT(h.dtype(), "Conv2d stacked gradients", [&] {
    // (T*C_out, C_in, kH, kW): task t's weight gradient in rows [t*C_out, (t+1)*C_out), i.e. grads[0][t].
    dispatch::conv2d_backward_filter_stacked<scalar_t>(h.device(), s, num_tasks, h.data<scalar_t>(),
                                                       deltas.data<scalar_t>(), grads[0].data<scalar_t>(),
                                                       bias.defined() ? grads[1].data<scalar_t>() : nullptr);
  });
}

void Conv2d::input_grad(const Tensor& delta, Tensor& grad_h) {
  GN_CHECK(delta.defined() && grad_h.defined() && grad_h.dim() == 4 && grad_h.size(1) == in_,
           "Conv2d({}, {}) input gradient: grad_h must be (B, {}, H, W), got {}", in_, out_, in_,
           grad_h.defined() ? to_string(grad_h.shape()) : "undefined");
  const ConvShape s = shape_for(grad_h);
  const Shape want{s.batch, out_, s.out_h, s.out_w};
  GN_CHECK(delta.shape() == want, "Conv2d({}, {}) input gradient: delta {} does not match grad_h {} (expected {})", in_,
           out_, to_string(delta.shape()), to_string(grad_h.shape()), to_string(want));
  check_same_dtype_device(delta, grad_h, "Conv2d input gradient");
  GN_DISPATCH_FLOAT(delta.dtype(), "Conv2d input gradient", [&] {
    dispatch::conv2d_backward_data<scalar_t>(delta.device(), s, delta.data<scalar_t>(), weight.data<scalar_t>(),
                                             grad_h.data<scalar_t>());
  });
}

ConvTranspose2d::ConvTranspose2d(std::int64_t in, std::int64_t out, Size2 kernel, Generator& gen,
                                 ConvTranspose2dOptions options, DType dtype, Device device)
    : in_(in), out_(out), kernel_(kernel), options_(options) {
  check_ctor("ConvTranspose2d", in, out, kernel, dtype);
  weight = Tensor::empty({in, out, kernel.h, kernel.w}, dtype, device);
  if (options.bias) bias = Tensor::empty({out}, dtype, device);
  init_conv(weight, bias, gen);
  register_parameter("weight", weight);
  if (options.bias) register_parameter("bias", bias);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  GN_CHECK(x.defined(), "ConvTranspose2d({}, {}): input is an undefined tensor", in_, out_);
  GN_CHECK(x.dim() == 4 && x.size(1) == in_, "ConvTranspose2d({}, {}): expects input of shape (B, {}, H, W), got {}",
           in_, out_, in_, to_string(x.shape()));
  return conv_transpose2d(x, weight, bias, options_.stride, options_.padding, options_.output_padding,
                          options_.dilation);
}

}  // namespace gn::nn
