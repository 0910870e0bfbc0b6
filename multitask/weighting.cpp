#include "multitask/weighting.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/dispatch.h"
#include "core/error.h"

namespace gn::multitask {

bool Diagnostics::has(std::string_view name) const {
  for (const auto& [n, v] : entries)
    if (n == name) return true;
  return false;
}

const std::vector<double>& Diagnostics::at(std::string_view name) const {
  for (const auto& [n, v] : entries)
    if (n == name) return v;
  GN_FAIL("diagnostics: no entry '{}'", name);
}

LossWeighting::LossWeighting(int num_tasks) : num_tasks_(num_tasks) {
  GN_CHECK(num_tasks >= 1, "loss weighting: needs at least one task, got {}", num_tasks);
  w_master_ = Tensor::ones({num_tasks}, DType::Float64);
  w_ = w_master_;
}

void LossWeighting::to(Device device, DType dtype) {
  GN_CHECK(is_floating(dtype), "{}: weights must be float32 or float64, got {}", name(), dtype_name(dtype));
  if (w_.device() == device && w_.dtype() == dtype && w_master_.device() == device) return;
  if (device.is_cuda() && !cuda_available())
    GN_FAIL("{}: cannot run on {}: {}", name(), to_string(device), cuda_unavailable_reason());
  move_state(device);
  w_ = Tensor::empty({num_tasks_}, dtype, device);
  publish_weights();
}

void LossWeighting::move_state(Device device) { w_master_ = w_master_.to(device); }

void LossWeighting::publish_weights() {
  dispatch::cast(w_.device(), num_tasks_, DType::Float64, w_master_.raw_data(), w_.dtype(), w_.raw_data());
}

void LossWeighting::update(const TaskSignals& s) {
  auto check = [&](const Tensor& t, const char* what) {
    GN_CHECK(t.defined() && t.dtype() == DType::Float64 && t.numel() == num_tasks_,
             "{}: update needs {} as a ({}) float64 tensor", name(), what, num_tasks_);
    GN_CHECK(t.device() == device(), "{}: {} are on {} but the method's state is on {} (call to() first)", name(), what,
             to_string(t.device()), to_string(device()));
  };
  check(s.losses, "losses");
  if (needs_grad_norms()) check(s.sq_norms, "squared gradient norms");
  do_update(s);
  ++updates_;
}

nn::StateDict LossWeighting::state_dict() const {
  nn::StateDict out{{"updates", nn::state_count(updates_)}};
  for (const auto& [name, t] : live_state()) out.emplace_back(name, t.detach().clone());
  for (auto& entry : extra_state()) out.push_back(std::move(entry));
  return out;
}

void LossWeighting::load_state_dict(const nn::StateDict& state) {
  nn::StateDict expected{{"updates", nn::state_count(0)}};
  const nn::StateDict live = live_state();
  expected.insert(expected.end(), live.begin(), live.end());
  nn::StateDict own, extra;
  for (const auto& entry : state) {
    const bool is_own =
        std::any_of(expected.begin(), expected.end(), [&](const auto& e) { return e.first == entry.first; });
    (is_own ? own : extra).push_back(entry);
  }
  const nn::StateMatch m = nn::match_state(own, expected, name());  // checks everything first
  const std::int64_t updates = nn::read_count(m.sources[0]);
  GN_CHECK(updates >= 0, "{}: load_state_dict: 'updates' is {}, must be >= 0", name(), updates);
  load_extra_state(extra);  // validates its entries before changing anything
  for (std::size_t k = 1; k < expected.size(); ++k) {
    Tensor dst = expected[k].second;
    nn::copy_state(dst, m.sources[k]);
  }
  updates_ = updates;
  after_load();
}

void LossWeighting::load_extra_state(const nn::StateDict& extra) {
  GN_CHECK(extra.empty(), "{}: load_state_dict: unexpected entry '{}'", name(), extra.front().first);
}

EqualWeighting::EqualWeighting(int num_tasks) : LossWeighting(num_tasks) {}

StaticWeighting::StaticWeighting(std::vector<double> weights, std::string name)
    : LossWeighting(static_cast<int>(weights.size())), name_(std::move(name)) {
  for (std::size_t i = 0; i < weights.size(); ++i)
    GN_CHECK(std::isfinite(weights[i]) && weights[i] > 0, "{} weighting: weight {} is {}, must be finite and > 0",
             name_, i, weights[i]);
  w_master_ = Tensor::from_vector(weights, {num_tasks()}, DType::Float64);
  w_ = w_master_;
}

}  // namespace gn::multitask
