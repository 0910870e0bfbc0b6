#include "multitask/uncertainty.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/adam.h"

namespace gn::multitask {

UncertaintyWeighting::UncertaintyWeighting(int num_tasks, double lr) : LossWeighting(num_tasks), lr_(lr) {
  GN_CHECK(lr > 0, "uncertainty: learning rate must be > 0, got {}", lr);
  s_ = Tensor::zeros({num_tasks}, DType::Float64);
  make_optimizer();
}

void UncertaintyWeighting::make_optimizer() {
  s_.set_requires_grad();
  s_grad_ = Tensor::zeros(s_.shape(), DType::Float64, s_.device());
  s_.set_grad(s_grad_);
  optimizer_ = std::make_unique<nn::Adam>(std::vector<Tensor>{s_}, lr_);
}

// Adam's moments and step counts travel with s: saved, rebuilt over the moved s, loaded back.
void UncertaintyWeighting::move_state(Device device) {
  LossWeighting::move_state(device);
  const nn::StateDict adam = optimizer_->state_dict();
  s_ = s_.detach().to(device);
  make_optimizer();
  optimizer_->load_state_dict(adam);
}

void UncertaintyWeighting::do_update(const TaskSignals& sig) {
  NoGradGuard no_grad;
  const Tensor precision = exp(neg(s_));                     // exp(-s_i) = w_i
  s_grad_.copy_(add(neg(mul(precision, sig.losses)), 1.0));  // ds_i = 1 - exp(-s_i) L_i
  optimizer_->step();
  w_master_.copy_(exp(neg(s_)));
  publish_weights();
}

nn::StateDict UncertaintyWeighting::extra_state() const {
  return nn::with_prefix(optimizer_->state_dict(), "optimizer.");
}

void UncertaintyWeighting::load_extra_state(const nn::StateDict& extra) {
  for (const auto& [n, t] : extra)
    GN_CHECK(n.starts_with("optimizer."), "uncertainty: load_state_dict: unexpected entry '{}'", n);
  try {
    optimizer_->load_state_dict(nn::strip_prefix(extra, "optimizer."));  // checks all before loading
  } catch (const Error& e) {
    GN_FAIL("uncertainty: load_state_dict: optimizer: {}", e.what());
  }
}

void UncertaintyWeighting::after_load() {
  NoGradGuard no_grad;
  w_master_.copy_(exp(neg(s_)));
  publish_weights();
}

Diagnostics UncertaintyWeighting::read_diagnostics() const {
  Diagnostics d;
  d.add("log_variances", s_.to_vector());
  d.add("weight_grads", s_grad_.to_vector());
  return d;
}

}  // namespace gn::multitask
