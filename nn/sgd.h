#pragma once
// Stochastic gradient descent with optional momentum and L2 weight decay, PyTorch's convention
// (torch.optim.SGD with dampening 0, no Nesterov); the update rule is in kernels/cpu/optim.h:
//   d = g + weight_decay * p;  buf = momentum * buf + d (buf = d on a parameter's first step);  p -= lr * buf
// With momentum 0 no buffer exists and p -= lr * d.
// State: "<i>.momentum_buffer" (only with momentum > 0) and "<i>.started" (0 or 1: whether parameter i has
// had its first step, which sets its buffer instead of decaying it).
#include <cstdint>
#include <vector>

#include "nn/optimizer.h"

namespace gn::nn {

class SGD : public Optimizer {
 public:
  // lr > 0, momentum >= 0, weight_decay >= 0.
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, double weight_decay = 0.0);

  void step() override;

  double momentum() const { return momentum_; }
  double weight_decay() const { return weight_decay_; }
  // One buffer per parameter (same shape, dtype, device), allocated at construction; empty when momentum == 0.
  const std::vector<Tensor>& momentum_buffers() const { return buffers_; }

 protected:
  void append_state(StateDict& out) const override;
  void load_numbers(const std::vector<Tensor>& in) override;

 private:
  double momentum_;
  double weight_decay_;
  std::vector<Tensor> buffers_;
  std::vector<bool> started_;  // per parameter: has its buffer received a first gradient
};

}  // namespace gn::nn
