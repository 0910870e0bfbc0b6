#pragma once
// Uncertainty weighting (Kendall, Gal & Cipolla, 2018), the baseline GradNorm is compared with.
//
// Form used (the common practical one): each task has a learned log-variance s_i = log sigma_i^2 and
//   L_total = sum_i exp(-s_i) L_i + s_i,
// so the loss weight is w_i = exp(-s_i) and ds_i = 1 - exp(-s_i) L_i, whose fixed point is w_i = 1 / L_i.
// (Kendall's Gaussian form has 1/(2 sigma^2) and log sigma; it differs by constant factors only.)
// s starts at 0 (w = 1, like equal weighting) and follows its own optimizer (paper: Adam, lr 0.025).
// Unlike GradNorm, nothing constrains sum w. Written with ops on (T) tensors: the same code on any device.
#include <memory>

#include "multitask/weighting.h"
#include "nn/optimizer.h"

namespace gn::multitask {

class UncertaintyWeighting : public LossWeighting {
 public:
  UncertaintyWeighting(int num_tasks, double lr = 0.025);
  std::string name() const override { return "uncertainty"; }
  // log_variances (s_i after the update), weight_grads (ds_i of the update).
  Diagnostics read_diagnostics() const override;
  const Tensor& log_variances() const { return s_; }  // (T) float64 on the method's device

 protected:
  void do_update(const TaskSignals& signals) override;
  void move_state(Device device) override;
  nn::StateDict live_state() const override { return {{"log_variances", s_}}; }
  nn::StateDict extra_state() const override;  // Adam's state under "optimizer."
  void load_extra_state(const nn::StateDict& extra) override;
  void after_load() override;

 private:
  void make_optimizer();

  double lr_;
  Tensor s_, s_grad_;  // (T) float64
  std::unique_ptr<nn::Optimizer> optimizer_;
};

}  // namespace gn::multitask
