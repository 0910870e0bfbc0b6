#include "multitask/gradnorm.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/dispatch_gradnorm.h"

namespace gn::multitask {

GradNormWeighting::GradNormWeighting(int num_tasks, GradNormOptions options)
    : LossWeighting(num_tasks), options_(std::move(options)) {
  GN_CHECK(std::isfinite(options_.alpha) && options_.alpha >= 0, "gradnorm: alpha must be >= 0, got {}",
           options_.alpha);
  GN_CHECK(std::isfinite(options_.lr) && options_.lr > 0, "gradnorm: weight learning rate must be > 0, got {}",
           options_.lr);
  GN_CHECK(options_.min_weight > 0 && options_.min_weight < 1, "gradnorm: min_weight must be in (0, 1), got {}",
           options_.min_weight);
  GradNormUpdateOptions& k = kernel_options_;
  k.alpha = options_.alpha;
  k.lr = options_.lr;
  k.min_weight = options_.min_weight;
  k.squared_norms = true;
  if (options_.optimizer == "adam")
    k.optimizer = GradNormOptimizer::Adam;
  else if (options_.optimizer == "sgd")
    k.optimizer = GradNormOptimizer::Sgd;
  else
    GN_FAIL("gradnorm: weight optimizer '{}' is not one of adam, sgd", options_.optimizer);

  state_ = Tensor::zeros({gradnorm_state_doubles(num_tasks)}, DType::Float64);
  status_ = Tensor::zeros({1}, DType::Int64);
  const GradNormBuffers b = gradnorm_buffers(num_tasks, state_.data<double>(), status_.data<std::int64_t>());
  for (int i = 0; i < num_tasks; ++i) b.weights[i] = 1.0;
  const InitialLoss& l0 = options_.initial_loss;
  switch (l0.mode()) {
    case InitialLoss::Mode::FirstStep:
      k.initial_loss_steps = 1;
      break;
    case InitialLoss::Mode::MeanOfFirst:
      k.initial_loss_steps = l0.steps();
      break;
    case InitialLoss::Mode::Given:
      GN_CHECK(static_cast<int>(l0.values().size()) == num_tasks, "gradnorm: {} given initial losses for {} tasks",
               l0.values().size(), num_tasks);
      k.initial_loss_steps = 0;
      for (int i = 0; i < num_tasks; ++i) b.initial_losses[i] = l0.values()[static_cast<std::size_t>(i)];
      break;
  }
  w_master_ = state_.slice(0, num_tasks);  // the block's first array is w
  w_ = w_master_;
}

void GradNormWeighting::move_state(Device device) {
  state_ = state_.to(device);
  status_ = status_.to(device);
  w_master_ = state_.slice(0, num_tasks());
}

void GradNormWeighting::do_update(const TaskSignals& s) {
  const int T = num_tasks();
  const GradNormBuffers b = gradnorm_buffers(T, state_.data<double>(), status_.data<std::int64_t>());
  const int* flags = s.norm_flags.defined() ? static_cast<const int*>(s.norm_flags.raw_data()) : nullptr;
  GN_DISPATCH_FLOAT(w_.dtype(), "gradnorm update", [&] {
    dispatch::gradnorm_update<scalar_t>(device(), T, s.losses.data<double>(), s.sq_norms.data<double>(), flags, b,
                                        w_.data<scalar_t>(), kernel_options_, updates() + 1);
  });
  if (device().is_cpu()) check_health();  // host memory: the check costs nothing, and stops at the step
}

void GradNormWeighting::check_health() const {
  const auto status = static_cast<std::int64_t>(status_.to_vector()[0]);
  if (status == kGradNormOk) return;
  const char* what = status == kGradNormNonFiniteInput    ? "a loss or a gradient norm at W is not finite"
                     : status == kGradNormNonFiniteWeight ? "a weight is not finite after the optimizer step"
                     : status == kGradNormBadInitialLoss  ? "a loss recorded as L_i(0) is not finite and > 0 "
                                                            "(use --initial-loss given:...)"
                                                          : "unknown status";
  throw TrainingDiverged(-1, fmt::format("gradnorm: training diverged by update {}: {}", updates(), what));
}

Diagnostics GradNormWeighting::read_diagnostics() const {
  const int T = num_tasks();
  const std::vector<double> all = state_.to_vector();
  auto array = [&](int k) { return std::vector<double>(all.begin() + k * T, all.begin() + (k + 1) * T); };
  Diagnostics d;  // the order of kernels/gradnorm_update_state.h's block
  d.add("initial_losses", array(1));
  d.add("loss_ratios", array(5));
  d.add("inverse_rates", array(6));
  d.add("targets", array(7));
  d.add("weight_grads", array(8));
  d.add("weights_stepped", array(9));
  d.add("lgrad", {all.back()});
  return d;
}

}  // namespace gn::multitask
