#include "nn/module.h"

#include <unordered_set>

#include "core/autograd.h"

namespace gn::nn {

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const { return walk(Walk::kParameters); }
std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const { return walk(Walk::kBuffers); }

StateDict Module::walk(Walk what) const {
  StateDict out;
  std::unordered_set<const TensorImpl*> seen;
  collect(what, "", seen, out);
  return out;
}

void Module::collect(Walk what, const std::string& prefix, std::unordered_set<const TensorImpl*>& seen,
                     StateDict& out) const {
  auto add = [&](const StateDict& own) {
    for (const auto& [name, t] : own) {
      if (seen.insert(t.impl()).second) out.emplace_back(prefix + name, t);
    }
  };
  if (what != Walk::kBuffers) add(params_);
  if (what != Walk::kParameters) add(buffers_);
  for (const auto& [name, child] : children_) child->collect(what, prefix + name + ".", seen, out);
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

StateDict Module::state_dict() const {
  StateDict out = walk(Walk::kBoth);
  for (auto& [name, t] : out) t = t.clone();
  return out;
}

LoadReport Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict live = walk(Walk::kBoth);
  const StateMatch match = match_state(state, live, "Module", strict);
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (match.sources[i].defined()) copy_state(live[i].second, match.sources[i]);
  }
  return match.report;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(std::move(t));
  return out;
}

void Module::zero_grad() {
  for (const auto& p : parameters()) {
    if (Tensor g = p.grad(); g.defined()) g.fill_(0.0);
  }
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void Module::check_new_name(const std::string& name, const char* what) const {
  GN_CHECK(!name.empty(), "Module: {} name is empty", what);
  GN_CHECK(name.find('.') == std::string::npos,
           "Module: {} name '{}' contains '.', which separates levels in named_parameters()", what, name);
  for (const auto& [n, t] : params_) GN_CHECK(n != name, "Module: {} name '{}' is already a parameter", what, name);
  for (const auto& [n, t] : buffers_) GN_CHECK(n != name, "Module: {} name '{}' is already a buffer", what, name);
  for (const auto& [n, c] : children_) GN_CHECK(n != name, "Module: {} name '{}' is already a sub-module", what, name);
}

Tensor Module::register_parameter(std::string name, Tensor t) {
  check_new_name(name, "parameter");
  GN_CHECK(t.defined(), "Module: parameter '{}' is an undefined tensor", name);
  GN_CHECK(is_floating(t.dtype()), "Module: parameter '{}' has dtype {}; parameters must be float32 or float64", name,
           dtype_name(t.dtype()));
  GN_CHECK(t.is_leaf(),
           "Module: parameter '{}' of shape {} has autograd history (from {}); register a leaf, e.g. "
           "t.detach()",
           name, to_string(t.shape()), t.grad_fn()->name);
  t.set_requires_grad(true);
  params_.emplace_back(std::move(name), t);
  return t;
}

Tensor Module::register_buffer(std::string name, Tensor t) {
  check_new_name(name, "buffer");
  GN_CHECK(t.defined(), "Module: buffer '{}' is an undefined tensor", name);
  // A buffer is not trained: a tensor that requires grad belongs in register_parameter (or detach() it).
  GN_CHECK(!t.requires_grad(), "Module: buffer '{}' of shape {} requires grad; buffers are not trained", name,
           to_string(t.shape()));
  buffers_.emplace_back(std::move(name), t);
  return t;
}

void Module::add_child(std::string name, std::shared_ptr<Module> m) {
  check_new_name(name, "sub-module");
  GN_CHECK(m != nullptr, "Module: sub-module '{}' is null", name);
  GN_CHECK(m.get() != this, "Module: sub-module '{}' is the module itself", name);
  children_.emplace_back(std::move(name), std::move(m));
}

}  // namespace gn::nn
