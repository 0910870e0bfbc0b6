#pragma once
// Sequential: a chain of modules, forward(x) = m_{n-1}(... m_1(m_0(x))). Children are registered as
// "0", "1", ... so parameters are named "0.weight", "2.bias", as in PyTorch.
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <vector>

#include "nn/module.h"

namespace gn::nn {

template <class M>
concept DerivedModule = std::is_base_of_v<Module, M>;

class Sequential : public Module {
 public:
  Sequential() = default;
  // Sequential seq{std::make_shared<Linear>(4, 32, gen), std::make_shared<Tanh>()};
  // A braced list is evaluated left to right, so layers drawing from one generator get the same numbers on
  // every compiler.
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  // std::make_shared<Sequential>(first, second, ...): make_shared cannot forward a braced list. Build the
  // layers in separate statements first: function arguments are evaluated in an unspecified order, so
  // constructing seeded layers inside the call would draw their numbers in a compiler-dependent order.
  template <DerivedModule... Ms>
  explicit Sequential(std::shared_ptr<Ms>... modules) {
    (push_back(std::move(modules)), ...);
  }

  void push_back(std::shared_ptr<Module> m);  // registered as std::to_string(size()) before the push
  std::size_t size() const { return modules_.size(); }
  std::shared_ptr<Module> operator[](std::size_t i) const;  // throws when i >= size()

  Tensor forward(const Tensor& x) override;  // an empty Sequential is the identity

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace gn::nn
