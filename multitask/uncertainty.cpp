#include "multitask/uncertainty.h"

#include <cmath>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "nn/adam.h"

namespace gn::multitask {

UncertaintyWeighting::UncertaintyWeighting(int num_tasks, double lr)
    : LossWeighting(num_tasks), lr_(lr), s_(static_cast<std::size_t>(num_tasks), 0.0) {
  GN_CHECK(lr > 0, "uncertainty: learning rate must be > 0, got {}", lr);
  s_param_ = Tensor::zeros({num_tasks}, DType::Float64).set_requires_grad();
  s_grad_ = Tensor::zeros({num_tasks}, DType::Float64);
  s_param_.set_grad(s_grad_);
  optimizer_ = std::make_unique<nn::Adam>(std::vector<Tensor>{s_param_}, lr);
}

void UncertaintyWeighting::update(StepStats& stats) {
  const int T = num_tasks();
  GN_CHECK(static_cast<int>(stats.losses.size()) == T, "uncertainty: update needs {} losses, got {}", T,
           stats.losses.size());
  double* g = s_grad_.data<double>();
  for (int i = 0; i < T; ++i) {
    g[i] = 1.0 - std::exp(-s_[i]) * stats.losses[i];
    stats.total_loss += s_[i];  // the regulariser term of L_total
  }
  stats.weight_grads.assign(g, g + T);
  optimizer_->step();
  const double* s = s_param_.data<double>();
  s_.assign(s, s + T);
  for (int i = 0; i < T; ++i) w_[i] = std::exp(-s_[i]);
  stats.next_weights = w_;
}

void UncertaintyWeighting::to_device(Device device, DType dtype) {
  LossWeighting::to_device(device, dtype);
  s_device_ = Tensor::from_vector(s_, {num_tasks()}, DType::Float64, device).set_requires_grad();
  s_grad_device_ = Tensor::zeros({num_tasks()}, DType::Float64, device);
  s_device_.set_grad(s_grad_device_);
  device_optimizer_ = std::make_unique<nn::Adam>(std::vector<Tensor>{s_device_}, lr_);
}

void UncertaintyWeighting::update_device(const Tensor& losses, const Tensor&, const Tensor&, std::int64_t) {
  NoGradGuard no_grad;
  const Tensor precision = exp(neg(s_device_));                 // exp(-s_i) = w_i
  s_grad_device_.copy_(add(neg(mul(precision, losses)), 1.0));  // ds_i = 1 - exp(-s_i) L_i
  device_optimizer_->step();
  const Tensor w = exp(neg(s_device_));
  dispatch::cast(w.device(), num_tasks(), DType::Float64, w.raw_data(), w_device_.dtype(), w_device_.raw_data());
}

void UncertaintyWeighting::read_device(StepStats* stats) {
  LossWeighting::read_device(stats);
  s_ = s_device_.to_vector();
  if (stats) stats->weight_grads = s_grad_device_.to_vector();
}

}  // namespace gn::multitask
