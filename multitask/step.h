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
//
// Data parallel (a Communicator of N > 1 ranks, docs/data-parallel.md "Exact GradNorm"): each rank steps on
// its slice of the global batch (B_r of B rows) and three reductions make every rank compute exactly what
// one process would on the whole batch, with scale_r = B_r / B (the global mean loss is
// L = sum_r (B_r / B) L_r when L_r is the mean over rank r's rows):
//   after 2: L_i <- sum_r scale_r L_i,r            the global task losses (one all-reduce of T numbers)
//   after 4's product, before the norm kernel:
//            grad_W w_i L_i <- sum_r scale_r (...)_r  the T stacked per-task W gradients (T x |W|)
//   during 7's backward, waited for before the optimizer:
//            p.grad <- sum_r scale_r p.grad_r        every other parameter, in buckets (nn/grad_reducer.h), each
//                                                    started once its gradients are final (the engine's
//                                                    gradient-ready hook), so the sums overlap the backward
// So G_i, L_i(0), the targets and w(t+1) come from global numbers, and the weight update runs redundantly
// on every rank with bitwise identical inputs (the communicator sums in rank order), as does the network
// update. W's own gradient is the sum of the reduced per-task blocks, so it is not reduced twice.
// Masked losses (a TaskLoss with a count, multitask/task.h): L_i,r is a mean over rank r's count_i,r valid
// terms, so the global L_i is sum_r (count_i,r / count_i) L_i,r, not B_r / B. After the heads' forward one
// all-reduce of the T counts gives c_i,r = count_i,r / count_i (step_masked.cpp); the losses are reduced with
// c_i,r, and head i's backward is seeded with w_i c_i,r / scale_r instead of w_i, so the gradient reductions
// above (scaled by scale_r) sum exactly sum_r c_i,r grad (w_i L_i,r) for every task.
// Without a communicator, or with one of size 1, the step is exactly the single-process one.
#include <memory>
#include <span>
#include <vector>

#include "core/communicator.h"
#include "core/dispatch_gradnorm.h"
#include "multitask/model.h"
#include "multitask/weighting.h"
#include "nn/grad_reducer.h"
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
  // comm (borrowed, may be null: one process) sums the step's losses and gradients over the ranks;
  // bucket_bytes is the gradient all-reduce's bucket size (nn/grad_reducer.h).
  MultitaskStep(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer, Communicator* comm = nullptr,
                std::size_t bucket_bytes = std::size_t{25} << 20);

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
  // The number of ranks the step's reductions span (1 without a communicator).
  int world_size() const { return comm_ != nullptr ? comm_->size() : 1; }
  // Milliseconds spent in the step's collectives so far (wall clock; 0 in one process).
  double comm_ms() const { return comm_ms_; }

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
  bool parallel() const { return comm_ != nullptr && comm_->size() > 1; }
  double local_share(std::int64_t local_rows);  // B_r / B (one host all-reduce of B_r)
  void reduce_losses(double share);
  void masked_shares(const std::vector<Tensor>& preds, std::span<const Tensor> targets, double share);
  void reduce_stacked_grads(double share);
  GradReadyHook begin_network_reduction(double share, bool shared_done);
  void finish_network_reduction();
  void backward_below_shared(const Tensor& h, const GradReadyHook* ready);
  StepStats read_stats(std::int64_t step, bool norms) const;

  MultitaskModel& model_;
  LossWeighting& weighting_;
  nn::Optimizer& optimizer_;
  Communicator* comm_;
  std::unique_ptr<nn::GradReducer> reducer_;  // with comm_ of size > 1
  double comm_ms_ = 0;
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
  std::vector<double> task_share_;     // data parallel: c_i,r, this rank's share of each task's global loss
  Tensor seed_weights_;                // data parallel, masked losses: (T) w_i c_i,r / scale_r (else undefined)
  void record_nonfinite(std::int64_t step, const Tensor* sq_norms, bool weights);
  dispatch::TaskNormPlan norm_plan_;
};

}  // namespace gn::multitask
