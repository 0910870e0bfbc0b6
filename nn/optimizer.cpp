#include "nn/optimizer.h"

#include <cmath>
#include <unordered_set>

namespace gn::nn {

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : Optimizer("Optimizer", std::move(params), lr) {}

Optimizer::Optimizer(const char* name, std::vector<Tensor> params, double lr)
    : name_(name), params_(std::move(params)), lr_(lr) {
  GN_CHECK(std::isfinite(lr) && lr > 0, "{}: learning rate must be > 0, got {}", name_, lr);
  GN_CHECK(!params_.empty(), "{}: got an empty parameter list", name_);
  std::unordered_set<const TensorImpl*> seen;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    GN_CHECK(p.defined(), "{}: parameter {} is an undefined tensor", name_, i);
    GN_CHECK(is_floating(p.dtype()), "{}: parameter {} has dtype {}; only float32 and float64 can be optimised", name_,
             i, dtype_name(p.dtype()));
    GN_CHECK(seen.insert(p.impl()).second, "{}: parameter {} of shape {} appears more than once", name_, i,
             to_string(p.shape()));
  }
}

void Optimizer::set_lr(double lr) {
  GN_CHECK(std::isfinite(lr) && lr >= 0, "{}: set_lr: learning rate must be >= 0, got {}", name_, lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (const auto& p : params_) {
    if (Tensor g = p.grad(); g.defined()) g.fill_(0.0);
  }
}

StateDict Optimizer::state_dict() const {
  StateDict out{{"lr", state_scalar(lr_)}};
  append_state(out);
  for (auto& [name, t] : out) t = t.clone();  // the numbers are fresh already; the tensor state is not
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  StateDict live{{"lr", state_scalar(lr_)}};
  append_state(live);
  const StateMatch match = match_state(state, live, name_);
  const double lr = read_scalar(match.sources[0]);
  GN_CHECK(std::isfinite(lr) && lr >= 0, "{}: load_state_dict: nothing loaded: entry 'lr' is {}, must be >= 0", name_,
           lr);
  load_numbers(std::vector<Tensor>(match.sources.begin() + 1, match.sources.end()));
  lr_ = lr;
  // Copying into the fresh number tensors too is harmless and keeps this loop unaware of which is which.
  for (std::size_t i = 0; i < live.size(); ++i) copy_state(live[i].second, match.sources[i]);
}

bool Optimizer::has_grad_to_apply(std::size_t i, const char* kernel) const {
  const Tensor& p = params_[i];
  const Tensor g = p.grad();
  if (!g.defined()) return false;
  GN_CHECK(g.dtype() == p.dtype() && g.device() == p.device() && g.shape() == p.shape(),
           "{}: parameter {} is {} {} on {} but its grad is {} {} on {}", name_, i, dtype_name(p.dtype()),
           to_string(p.shape()), to_string(p.device()), dtype_name(g.dtype()), to_string(g.shape()),
           to_string(g.device()));
  return true;
}

}  // namespace gn::nn
