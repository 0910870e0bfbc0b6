#pragma once
// Adam (Kingma & Ba 2015) with bias correction, PyTorch's convention (torch.optim.Adam; weight decay is an
// L2 term added to the gradient, not AdamW's decoupled decay). The update rule is in kernels/cpu/optim.h:
//   g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * mhat / (sqrt(vhat) + eps),  mhat = m / (1 - b1^t),  vhat = v / (1 - b2^t)
// t counts the steps each parameter has actually received (a step that skips it, because its grad is
// undefined, does not advance its t), as in PyTorch's per-parameter state['step'].
// State: "<i>.exp_avg" (m), "<i>.exp_avg_sq" (v) and "<i>.step" (t, int64) for each parameter i.
#include <cstdint>
#include <vector>

#include "nn/optimizer.h"

namespace gn::nn {

class Adam : public Optimizer {
 public:
  // lr > 0, beta1 and beta2 in [0, 1), eps >= 0, weight_decay >= 0.
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0.0);

  void step() override;

  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  // Per-parameter state, allocated at construction (same shape, dtype, device as the parameter).
  const std::vector<Tensor>& exp_avg() const { return m_; }     // m
  const std::vector<Tensor>& exp_avg_sq() const { return v_; }  // v
  const std::vector<std::int64_t>& steps() const { return steps_; }

 protected:
  void append_state(StateDict& out) const override;
  void load_numbers(const std::vector<Tensor>& in) override;

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  std::vector<Tensor> m_, v_;
  std::vector<std::int64_t> steps_;
};

}  // namespace gn::nn
