#include "nn/module.h"

#include <unordered_set>

#include "core/autograd.h"

namespace gn::nn {

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::unordered_set<const TensorImpl*> seen;
  collect("", seen, out);
  return out;
}

void Module::collect(const std::string& prefix, std::unordered_set<const TensorImpl*>& seen,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, t] : params_) {
    if (seen.insert(t.impl()).second) out.emplace_back(prefix + name, t);
  }
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", seen, out);
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

void Module::add_child(std::string name, std::shared_ptr<Module> m) {
  check_new_name(name, "sub-module");
  GN_CHECK(m != nullptr, "Module: sub-module '{}' is null", name);
  GN_CHECK(m.get() != this, "Module: sub-module '{}' is the module itself", name);
  children_.emplace_back(std::move(name), std::move(m));
}

}  // namespace gn::nn
