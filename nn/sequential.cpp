#include "nn/sequential.h"

#include <string>

namespace gn::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  GN_CHECK(m != nullptr, "Sequential: push_back of a null module at index {}", modules_.size());
  modules_.push_back(register_module(std::to_string(modules_.size()), std::move(m)));
}

std::shared_ptr<Module> Sequential::operator[](std::size_t i) const {
  GN_CHECK(i < modules_.size(), "Sequential: index {} out of range (size {})", i, modules_.size());
  return modules_[i];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& m : modules_) h = m->forward(h);
  return h;
}

}  // namespace gn::nn
