#include "nn/linear.h"

#include <cmath>

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

}  // namespace gn::nn
