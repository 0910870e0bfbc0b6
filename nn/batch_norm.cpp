#include "nn/batch_norm.h"

#include "core/ops.h"
#include "nn/sync_batch_norm.h"

namespace gn::nn {

BatchNorm2d::BatchNorm2d(std::int64_t num_features, double eps, double momentum, bool affine, DType dtype,
                         Device device)
    : num_features_(num_features), eps_(eps), momentum_(momentum) {
  GN_CHECK(num_features > 0, "BatchNorm2d: num_features must be > 0, got {}", num_features);
  GN_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, "BatchNorm2d({}): eps {} must be > 0 and momentum {} in [0, 1]",
           num_features, eps, momentum);
  GN_CHECK(is_floating(dtype), "BatchNorm2d({}): dtype must be float32 or float64, got {}", num_features,
           dtype_name(dtype));
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_features}, dtype, device));
    bias = register_parameter("bias", Tensor::zeros({num_features}, dtype, device));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({num_features}, dtype, device));
  running_var = register_buffer("running_var", Tensor::ones({num_features}, dtype, device));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64, cpu_device()));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  GN_CHECK(x.defined(), "BatchNorm2d({}): input is an undefined tensor", num_features_);
  GN_CHECK(x.dim() == 4 && x.size(1) == num_features_, "BatchNorm2d({}): expects input of shape (N, {}, H, W), got {}",
           num_features_, num_features_, to_string(x.shape()));
  const bool training = is_training();
  Tensor y = training && sync_ != nullptr && sync_->size() > 1
                 ? sync_batch_norm(x, running_mean, running_var, weight, bias, momentum_, eps_, *sync_)
                 : gn::batch_norm(x, running_mean, running_var, weight, bias, training, momentum_, eps_);
  if (training) num_batches_tracked.data<std::int64_t>()[0] += 1;
  return y;
}

}  // namespace gn::nn
