#pragma once
// Uncertainty weighting (Kendall, Gal & Cipolla, 2018), the baseline GradNorm is compared with.
//
// Form used (the common practical one): each task has a learned log-variance s_i = log sigma_i^2 and
//   L_total = sum_i exp(-s_i) L_i + s_i,
// so the loss weight is w_i = exp(-s_i) and ds_i = 1 - exp(-s_i) L_i, whose fixed point is w_i = 1 / L_i.
// (Kendall's Gaussian form has 1/(2 sigma^2) and log sigma; it differs by constant factors only.)
// s starts at 0 (w = 1, like equal weighting) and follows its own optimizer (paper: Adam, lr 0.025).
// Unlike GradNorm, nothing constrains sum w.
#include <memory>

#include "multitask/weighting.h"
#include "nn/optimizer.h"

namespace gn::multitask {

class UncertaintyWeighting : public LossWeighting {
 public:
  UncertaintyWeighting(int num_tasks, double lr = 0.025);
  std::string name() const override { return "uncertainty"; }
  void update(StepStats& stats) override;
  void to_device(Device device, DType dtype) override;
  void update_device(const Tensor& losses, const Tensor& sq_norms, const Tensor& flags, std::int64_t step) override;
  void read_device(StepStats* stats) override;
  const std::vector<double>& log_variances() const { return s_; }

 private:
  double lr_;
  std::vector<double> s_;
  // The CUDA path: the same update with device tensors (ops and Adam run on the device).
  Tensor s_device_, s_grad_device_;
  std::unique_ptr<nn::Optimizer> device_optimizer_;
  Tensor s_param_, s_grad_;  // (T) float64
  std::unique_ptr<nn::Optimizer> optimizer_;
};

}  // namespace gn::multitask
