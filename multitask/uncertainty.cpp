#include "multitask/uncertainty.h"

#include <cmath>

#include "nn/adam.h"

namespace gn::multitask {

UncertaintyWeighting::UncertaintyWeighting(int num_tasks, double lr)
    : LossWeighting(num_tasks), s_(static_cast<std::size_t>(num_tasks), 0.0) {
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

}  // namespace gn::multitask
