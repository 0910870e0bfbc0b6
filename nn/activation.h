#pragma once
// Elementwise activations as modules (no parameters), so they can sit in a Sequential.
#include "nn/module.h"

namespace gn::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

}  // namespace gn::nn
