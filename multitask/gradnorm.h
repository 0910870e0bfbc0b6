#pragma once
// GradNorm (Chen et al., ICML 2018): loss weights that balance the per-task gradient norms at the last
// shared layer W, pulled toward targets mean(G) * r_i^alpha.
//
// update() receives L_i(t) and G_i^2 = ||grad_W w_i L_i||^2 from the step (one batched product and one
// norm reduction, see step.cpp) and runs ONE dispatched kernel (kernels/gradnorm_update_state.h): L_i(0),
// the closed-form dLgrad/dw_i = sign(G_i - target_i) g_i, one step of the weights' own optimizer (paper:
// Adam, lr 0.025; on w, or on s by `weight_param`), then positivity and sum w = T. The same code and the
// same state on the CPU and on CUDA.
//
// Positivity, by `weight_param`:
//   linear (default, the paper): the optimizer steps w itself; then every w_i is raised to at least
//     `min_weight` (each raise is a "floor hit", counted in the state and reported as the diagnostic
//     floor_hits, cumulative), and all are scaled by T / sum(w). So w_i > 0 even if a step overshoots.
//   log: the optimizer steps s_i = log w_i with dLgrad/ds_i = w_i dLgrad/dw_i; w = exp(s) renormalised to
//     sum T, s re-synced to log w.
//   softmax: w = T softmax(s) (as LibMTL), the gradient through the softmax and its coupling.
//   log and softmax keep w > 0 by construction: the floor never fires.
#include "core/dispatch_gradnorm.h"
#include "multitask/initial_loss.h"
#include "multitask/weighting.h"

namespace gn::multitask {

struct GradNormOptions {
  double alpha = 1.5;                   // asymmetry; the paper uses 0.12 on the toy, 1.5 on NYUv2
  std::string optimizer = "adam";       // "adam" or "sgd" (no momentum), for the weights alone
  double lr = 0.025;                    // the paper's weight learning rate
  double min_weight = 1e-4;             // linear: floor applied before renormalising (see positivity)
  std::string weight_param = "linear";  // "linear", "log" or "softmax": what the optimizer updates
  InitialLoss initial_loss;             // how L_i(0) is taken
  // G_i over W's weight alone (the paper's literal "weights" of the last shared layer) instead of its
  // weight and bias together (the default).
  bool norm_weight_only = false;
};

// "linear", "log" or "softmax" -> the kernel's GradNormParam; throws naming the known ones.
GradNormParam parse_weight_param(const std::string& name);

class GradNormWeighting : public LossWeighting {
 public:
  GradNormWeighting(int num_tasks, GradNormOptions options = {});
  std::string name() const override { return "gradnorm"; }
  bool needs_grad_norms() const override { return true; }
  bool norms_over_weight_only() const override { return options_.norm_weight_only; }
  // initial_losses (L_i(0)), loss_ratios, inverse_rates, targets, weight_grads, weights_stepped, lgrad (1),
  // floor_hits (1, cumulative); with log or softmax also params (s) and param_grads (dLgrad/ds).
  Diagnostics read_diagnostics() const override;
  void check_health() const override;
  const GradNormOptions& options() const { return options_; }
  // The whole state (w, L_i(0) and its running sum, Adam's moments, s, the floor count) and the last
  // update's outputs, one
  // float64 block in kernels/gradnorm_update_state.h's layout; checkpoints save it.
  const Tensor& state() const { return state_; }

 protected:
  void do_update(const TaskSignals& signals) override;
  void move_state(Device device) override;
  nn::StateDict live_state() const override { return {{"state", state_}}; }
  // "weight_param" (int64: kernels' GradNormParam): a checkpoint of another parameterisation is refused.
  nn::StateDict extra_state() const override;
  void load_extra_state(const nn::StateDict& extra) override;

 private:
  GradNormOptions options_;
  GradNormUpdateOptions kernel_options_;
  Tensor state_;   // (13 T + 2) float64
  Tensor status_;  // (1) int64 GradNormStatus of the last update
};

}  // namespace gn::multitask
