#include "multitask/gradnorm.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/dispatch_gradnorm.h"

namespace gn::multitask {

GradNormParam parse_weight_param(const std::string& name) {
  for (const GradNormParam p : {GradNormParam::Linear, GradNormParam::Log, GradNormParam::Softmax})
    if (name == gradnorm_param_name(p)) return p;
  GN_FAIL("gradnorm: weight parameterisation '{}' is not one of linear, log, softmax", name);
}

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
  k.param = parse_weight_param(options_.weight_param);

  state_ = Tensor::zeros({gradnorm_state_doubles(num_tasks)}, DType::Float64);
  status_ = Tensor::zeros({1}, DType::Int64);
  const GradNormBuffers b = gradnorm_buffers(num_tasks, state_.data<double>(), status_.data<std::int64_t>());
  for (int i = 0; i < num_tasks; ++i) b.weights[i] = 1.0;  // s = 0: log 1, and T softmax(0) = 1
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

nn::StateDict GradNormWeighting::extra_state() const {
  return {{"weight_param", nn::state_count(static_cast<std::int64_t>(kernel_options_.param))}};
}

void GradNormWeighting::load_extra_state(const nn::StateDict& extra) {
  const Tensor* saved = nullptr;
  for (const auto& [name, t] : extra) {
    GN_CHECK(name == "weight_param", "gradnorm: load_state_dict: unexpected entry '{}'", name);
    saved = &t;
  }
  GN_CHECK(saved != nullptr, "gradnorm: load_state_dict: missing entry 'weight_param'");
  GN_CHECK(saved->defined() && saved->numel() == 1 && saved->dim() == 0 && saved->dtype() == DType::Int64,
           "gradnorm: load_state_dict: 'weight_param' must be one int64");
  const std::int64_t code = nn::read_count(*saved);
  const auto mine = static_cast<std::int64_t>(kernel_options_.param);
  GN_CHECK(code >= 0 && code <= 2, "gradnorm: load_state_dict: 'weight_param' is {}, not a parameterisation", code);
  GN_CHECK(code == mine,
           "gradnorm: load_state_dict: the state was trained with weight parameterisation '{}' but this run uses "
           "'{}' (--weight-param); they cannot be mixed",
           gradnorm_param_name(static_cast<GradNormParam>(code)), gradnorm_param_name(kernel_options_.param));
}

Diagnostics GradNormWeighting::read_diagnostics() const {
  const int T = num_tasks();
  const std::vector<double> all = state_.to_vector();
  const GradNormBuffers b = gradnorm_buffers(T, const_cast<double*>(all.data()), nullptr);
  auto array = [&](const double* p) { return std::vector<double>(p, p + T); };
  Diagnostics d;  // the order of kernels/gradnorm_update_state.h's block
  d.add("initial_losses", array(b.initial_losses));
  if (kernel_options_.param != GradNormParam::Linear) d.add("params", array(b.params));
  d.add("floor_hits", {*b.floor_hits});
  d.add("loss_ratios", array(b.loss_ratio));
  d.add("inverse_rates", array(b.inverse_rate));
  d.add("targets", array(b.target));
  d.add("weight_grads", array(b.weight_grad));
  if (kernel_options_.param != GradNormParam::Linear) d.add("param_grads", array(b.param_grad));
  d.add("weights_stepped", array(b.weights_stepped));
  d.add("lgrad", {*b.lgrad});
  return d;
}

}  // namespace gn::multitask
