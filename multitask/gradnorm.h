#pragma once
// GradNorm (Chen et al., ICML 2018): loss weights that balance the per-task gradient norms at the last
// shared layer W, pulled toward targets mean(G) * r_i^alpha.
//
// update() receives L_i(t) and G_i = ||grad_W w_i L_i|| from the step (one batched GEMM and one norm
// reduction, see step.cpp), computes the closed-form dLgrad/dw_i (kernels/cpu/gradnorm_update.h), takes
// one step of the weights' own optimizer (paper: Adam, lr 0.025), then keeps w positive and sum w = T.
//
// Positivity rule: after the optimizer step every w_i is raised to at least `min_weight`, then all are
// scaled by T / sum(w). So every w_i > 0 always, even if a step overshoots below zero.
#include <memory>

#include "multitask/initial_loss.h"
#include "multitask/weighting.h"
#include "nn/optimizer.h"

namespace gn::multitask {

struct GradNormOptions {
  double alpha = 1.5;              // asymmetry; the paper uses 0.12 on the toy, 1.5 on NYUv2
  std::string optimizer = "adam";  // "adam" or "sgd", for the weights alone
  double lr = 0.025;               // the paper's weight learning rate
  double min_weight = 1e-4;        // floor applied before renormalising (see the positivity rule)
  InitialLoss initial_loss;        // how L_i(0) is taken
};

class GradNormWeighting : public LossWeighting {
 public:
  GradNormWeighting(int num_tasks, GradNormOptions options = {});
  std::string name() const override { return "gradnorm"; }
  bool needs_grad_norms() const override { return true; }
  void update(StepStats& stats) override;
  void to_device(Device device, DType dtype) override;
  void update_device(const Tensor& losses, const Tensor& sq_norms, const Tensor& flags, std::int64_t step) override;
  void read_device(StepStats* stats) override;
  const GradNormOptions& options() const { return options_; }
  ~GradNormWeighting() override;

 private:
  struct DeviceState;  // the CUDA update's state (kernels/cuda/gradnorm_update.h)
  std::unique_ptr<DeviceState> device_;

  GradNormOptions options_;
  Tensor w_param_;  // (T) float64: the weights as the optimizer sees them
  Tensor w_grad_;   // (T) float64: dLgrad/dw, reused every step
  std::unique_ptr<nn::Optimizer> optimizer_;
};

}  // namespace gn::multitask
