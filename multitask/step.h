#pragma once
// The multitask training step, the same path for every weighting, every task loss, every shared layer W
// and every device:
//   1. forward the trunk once; cut the graph at z (a leaf that requires grad)
//   2. forward each head; losses L_i and d(w_i L_i)/d pred_i: one fused kernel when every task is MSE,
//      else each task's autograd loss
//   3. backward each head alone to the cut: wdelta_i = w_i dL_i/dz, head gradients land already scaled by w_i
//   4. (weightings that ask) per-task norms G_i = ||grad_W w_i L_i||: W gives all T per-task gradients of
//      its parameters from the T deltas stacked along dim 1 in ONE call (Linear: one GEMM), then ONE
//      per-task norm reduction
//   5. the weighting moves w(t) -> w(t+1), on the model's device
//   6. fused combine: delta = sum_i wdelta_i in one pass
//   7. backward the trunk once from z with delta (when the norms were computed, from h instead: W's
//      gradient is the sum of the T per-task blocks already computed, so its GEMM is not repeated);
//      the network's optimizer steps
// Folding w_i into the loss gradient (step 2) rather than into the combine is the same arithmetic as
// delta = sum_i w_i delta_i, one pass cheaper, and it makes G_i come out of the norm directly.
// Nothing is read back to the host unless the caller asks for the step's statistics.
#include <span>
#include <vector>

#include "core/dispatch_gradnorm.h"
#include "multitask/model.h"
#include "multitask/weighting.h"
#include "nn/optimizer.h"

namespace gn::multitask {

// What one step saw and did (host copies, filled only when asked for).
struct StepStats {
  std::int64_t step = 0;
  std::vector<double> losses;          // L_i(t)
  std::vector<double> weights;         // w_i(t), the weights this step trained with
  std::vector<double> grad_norms;      // g_i = ||grad_W L_i||              (when norms were computed)
  std::vector<double> weighted_norms;  // G_i = ||grad_W w_i L_i|| = w_i g_i (when norms were computed)
  std::vector<double> next_weights;    // w_i(t+1)
  double total_loss = 0;               // sum_i w_i(t) L_i(t), the loss the network trained on
  Diagnostics diagnostics;             // the weighting's internals (GradNorm: L_i(0), targets, ...)
};

class MultitaskStep {
 public:
  MultitaskStep(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer);

  // One training step on a batch: x (B, ...), targets[i] what task i's loss expects. With want_stats the
  // step reads its statistics back (on CUDA a sync point, so ask on logging steps only); without, the
  // returned stats hold the step index alone.
  StepStats step(const Tensor& x, std::span<const Tensor> targets, bool want_stats = true);
  std::int64_t steps_taken() const { return step_; }
  // Every step records, where its losses are computed, the first step at which a loss L_i, a squared norm
  // G_i^2 or a weight w_i (the model-dtype weights after the update) is not finite: on the CPU it is read at
  // once and the step throws TrainingDiverged; on CUDA the record stays on the device (no extra sync) and is
  // read when the stats are (want_stats) or here. Throws TrainingDiverged naming the step, the task (index
  // and name) and the quantity; a no-op when nothing diverged.
  void check_divergence() const;
  // w(t+1), the weights the next step will use (a host read).
  std::vector<double> current_weights() const { return weighting_.read_weights(); }
  // E_t[w_i(t)]: the time average of the weights the steps so far trained with (a host read).
  std::vector<double> mean_weights() const;

  // The step's own state, for checkpoints: "steps" (0-d int64: steps taken) and "weight_sum" ((T) float64:
  // the sum of w(t) behind mean_weights()). Loading checks both (names, shapes, dtypes, steps >= 0) before
  // changing either. The model, weighting and optimizer save their own state.
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 private:
  void ensure_buffers(const Tensor& h, const Tensor& z);
  void head_backward(const std::vector<Tensor>& preds, std::span<const Tensor> targets, const Tensor& z_cut);
  void fused_mse(const std::vector<Tensor>& preds, std::span<const Tensor> targets);
  void task_norms();
  void combine();
  void backward_below_shared(const Tensor& h);
  StepStats read_stats(std::int64_t step, bool norms) const;

  MultitaskModel& model_;
  LossWeighting& weighting_;
  nn::Optimizer& optimizer_;
  std::int64_t step_ = 0;
  // Reused every step (no allocation in the steady state), all on the model's device:
  Tensor deltas_;                      // (B, T*C, ...): task i's w_i dL_i/dz in [i*C, (i+1)*C) of dim 1
  std::vector<Tensor> stacked_grads_;  // per parameter k of W: (T, *shape_k), task i's grad in slice i
  Tensor combined_;                    // z's shape: sum_i w_i dL_i/dz
  Tensor grad_h_;                      // h's shape: dL/dh when the backward starts below W
  std::vector<Tensor> loss_grads_;     // per task, shaped like its prediction (fused MSE)
  Tensor losses_, sq_norms_, flags_;   // (T) float64 L_i, (T) float64 G_i^2, (T) int flags in int64 slots
  Tensor weight_sum_, weights_now_;    // (T) float64: sum over steps of w(t); w(t) kept for the stats
  Tensor diverged_;                    // (4) int64: the divergence record (kernels/cpu/weighted_loss.h)
  void record_nonfinite(std::int64_t step, const Tensor* sq_norms, bool weights);
  dispatch::TaskNormPlan norm_plan_;
};

}  // namespace gn::multitask
