#include "multitask/gradnorm.h"

#include <cmath>

#include "kernels/cpu/gradnorm_update.h"
#include "nn/adam.h"
#include "nn/sgd.h"

namespace gn::multitask {

GradNormWeighting::GradNormWeighting(int num_tasks, GradNormOptions options)
    : LossWeighting(num_tasks), options_(std::move(options)) {
  GN_CHECK(std::isfinite(options_.alpha) && options_.alpha >= 0, "gradnorm: alpha must be >= 0, got {}",
           options_.alpha);
  GN_CHECK(options_.lr > 0, "gradnorm: weight learning rate must be > 0, got {}", options_.lr);
  GN_CHECK(options_.min_weight > 0 && options_.min_weight < 1, "gradnorm: min_weight must be in (0, 1), got {}",
           options_.min_weight);
  w_param_ = Tensor::ones({num_tasks}, DType::Float64).set_requires_grad();
  w_grad_ = Tensor::zeros({num_tasks}, DType::Float64);
  w_param_.set_grad(w_grad_);
  if (options_.optimizer == "adam")
    optimizer_ = std::make_unique<nn::Adam>(std::vector<Tensor>{w_param_}, options_.lr);
  else if (options_.optimizer == "sgd")
    optimizer_ = std::make_unique<nn::SGD>(std::vector<Tensor>{w_param_}, options_.lr);
  else
    GN_FAIL("gradnorm: weight optimizer '{}' is not one of adam, sgd", options_.optimizer);
}

void GradNormWeighting::update(StepStats& stats) {
  const int T = num_tasks();
  GN_CHECK(static_cast<int>(stats.losses.size()) == T && static_cast<int>(stats.weighted_norms.size()) == T,
           "gradnorm: update needs {} losses and gradient norms, got {} and {}", T, stats.losses.size(),
           stats.weighted_norms.size());
  for (int i = 0; i < T; ++i)
    GN_CHECK(std::isfinite(stats.losses[i]) && std::isfinite(stats.weighted_norms[i]),
             "gradnorm: step {}: task {} has loss {} and gradient norm {}; training diverged", stats.step, i,
             stats.losses[i], stats.weighted_norms[i]);
  stats.initial_losses = options_.initial_loss.observe(stats.losses);
  stats.loss_ratios.resize(T);
  stats.inverse_rates.resize(T);
  stats.targets.resize(T);
  stats.weight_grads.resize(T);
  stats.lgrad = cpu::gradnorm_weight_grad(
      T, stats.losses.data(), stats.initial_losses.data(), stats.weighted_norms.data(), w_.data(), options_.alpha,
      {stats.loss_ratios.data(), stats.inverse_rates.data(), stats.targets.data(), stats.weight_grads.data()});

  double* w = w_param_.data<double>();
  std::copy(stats.weight_grads.begin(), stats.weight_grads.end(), w_grad_.data<double>());
  optimizer_->step();
  stats.weights_stepped.assign(w, w + T);
  cpu::renormalize_weights(T, w, options_.min_weight);
  w_.assign(w, w + T);
  stats.next_weights = w_;
}

}  // namespace gn::multitask
