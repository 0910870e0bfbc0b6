#pragma once
// Loss-weighting strategies behind one interface. The step asks weights() for w_i(t), runs the network
// update with them, then hands the step's losses (and, if needs_grad_norms(), the per-task gradient
// norms at W) to update(), which moves w to w_i(t+1). Every strategy takes the same step path; equal and
// static weights simply never move, so GradNorm's overhead is its norms and its update alone.
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace gn::multitask {

// What one step saw and did; the GradNorm fields are empty for other strategies.
struct StepStats {
  std::int64_t step = 0;
  std::vector<double> losses;          // L_i(t)
  std::vector<double> weights;         // w_i(t), the weights this step trained with
  std::vector<double> grad_norms;      // g_i = ||grad_W L_i||              (when norms were asked for)
  std::vector<double> weighted_norms;  // G_i = ||grad_W w_i L_i|| = w_i g_i (when norms were asked for)
  // GradNorm internals
  std::vector<double> initial_losses;   // L_i(0)
  std::vector<double> loss_ratios;      // Ltilde_i = L_i / L_i(0)
  std::vector<double> inverse_rates;    // r_i = Ltilde_i / mean(Ltilde)
  std::vector<double> targets;          // mean(G) * r_i^alpha, held constant
  std::vector<double> weight_grads;     // dLgrad / dw_i
  std::vector<double> weights_stepped;  // w after the optimizer step, before clamping and renormalising
  std::vector<double> next_weights;     // w_i(t+1)
  double lgrad = 0;                     // sum_i |G_i - target_i|
  double total_loss = 0;                // sum_i w_i L_i (+ the uncertainty regulariser)
};

class LossWeighting {
 public:
  explicit LossWeighting(int num_tasks);
  virtual ~LossWeighting() = default;
  virtual std::string name() const = 0;
  virtual bool needs_grad_norms() const { return false; }
  int num_tasks() const { return static_cast<int>(w_.size()); }
  // w_i(t), float64 on the host.
  const std::vector<double>& weights() const { return w_; }
  // Moves w to w(t+1) from this step's stats (losses; norms if asked for) and records its internals.
  virtual void update(StepStats& stats) { stats.next_weights = w_; }

  // ---- the CUDA step: w lives on the device and is updated there, with no host synchronisation ----
  // Called once by the step: puts w (and any state) on `device` in the model's dtype.
  virtual void to_device(Device device, DType dtype);
  // (T) w(t) on the device, in the model's dtype; the fused loss kernel reads it there.
  const Tensor& device_weights() const { return w_device_; }
  // One update on the device. losses: (T) float64 L_i(t); sq_norms: (T) float64 G_i^2 and flags: (T) int
  // non-finite flags of the norm kernel (both undefined unless needs_grad_norms()); step: 0-based.
  virtual void update_device(const Tensor& losses, const Tensor& sq_norms, const Tensor& flags, std::int64_t step) {}
  // Reads the device state back (a sync point, for logging): w_ and, when given, the internals of the last
  // update into *stats. Throws if the device update reported divergence.
  virtual void read_device(StepStats* stats);

 protected:
  std::vector<double> w_;
  Tensor w_device_;
};

// w_i = 1 for every task.
class EqualWeighting : public LossWeighting {
 public:
  explicit EqualWeighting(int num_tasks);
  std::string name() const override { return "equal"; }
};

// User-given constant weights (each > 0), e.g. GradNorm's time-averaged weights ("gradnorm-static").
class StaticWeighting : public LossWeighting {
 public:
  StaticWeighting(std::vector<double> weights, std::string name = "static");
  std::string name() const override { return name_; }

 private:
  std::string name_;
};

}  // namespace gn::multitask
