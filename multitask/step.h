#pragma once
// The multitask training step (DESIGN.md, "The GradNorm step"), the same path for every weighting:
//   1. forward the trunk once; cut the graph at z (a leaf that requires grad)
//   2. forward each head; losses L_i and d(w_i L_i)/d pred_i in one fused kernel (MSE), or autograd losses
//   3. backward each head alone to the cut: wdelta_i = w_i dL_i/dz, head gradients land already scaled by w_i
//   4. (weightings that ask) per-task norms G_i = ||grad_W w_i L_i||: ONE GEMM over the T deltas stacked
//      side by side, then ONE per-task norm reduction over the stacked weight and bias gradients
//   5. the weighting moves w(t) -> w(t+1)
//   6. fused combine: delta = sum_i wdelta_i in one pass
//   7. backward the trunk once from z with delta (when the norms were computed, from h instead: W's
//      gradient is the sum of the T per-task blocks already computed, so its GEMM is not repeated);
//      the network's optimizer steps
// Folding w_i into the loss gradient (step 2) rather than into the combine is the same arithmetic as the
// design's delta = sum_i w_i delta_i, one pass cheaper, and it makes G_i come out of the norm directly.
#include <functional>
#include <span>
#include <vector>

#include "multitask/model.h"
#include "multitask/weighting.h"
#include "nn/optimizer.h"

namespace gn::multitask {

// A task loss as an autograd op: (prediction, target) -> scalar.
using LossFn = std::function<Tensor(const Tensor& pred, const Tensor& target)>;

class MultitaskStep {
 public:
  // `losses` empty: every task is MSE, computed by the fused multitask MSE kernel. Otherwise one per task.
  MultitaskStep(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer,
                std::vector<LossFn> losses = {});

  // One training step on a batch: x (B, in), targets[i] shaped like head i's prediction. On the CPU the
  // returned stats are always complete. On CUDA every value stays on the device unless `want_stats` is
  // true: then the step reads losses, norms, weights and the GradNorm internals back (a sync point).
  StepStats step(const Tensor& x, std::span<const Tensor> targets, bool want_stats = true);
  std::int64_t steps_taken() const { return step_; }
  // w(t+1), the weights the next step will use (a host read on CUDA).
  std::vector<double> current_weights() const;
  // E_t[w_i(t)]: the time average of the weights the steps so far trained with (a host read on CUDA).
  std::vector<double> mean_weights() const;

 private:
  void head_backward(const std::vector<Tensor>& preds, std::span<const Tensor> targets, const Tensor& z_cut,
                     StepStats& stats);
  void fused_mse(const std::vector<Tensor>& preds, std::span<const Tensor> targets, StepStats& stats);
  void stacked_shared_grads(const Tensor& h);
  void set_device_pieces(const Tensor& h);
  void task_norms_host(StepStats& stats);
  void combine();
  void backward_below_shared(const Tensor& h, int T);
  void ensure_buffers(std::int64_t B, std::int64_t D, std::int64_t D_in, DType dtype, Device device);
  void prepare_device(Device device, DType dtype);
  void read_device_stats(const Tensor& weights_before, StepStats& stats);

  MultitaskModel& model_;
  LossWeighting& weighting_;
  nn::Optimizer& optimizer_;
  std::vector<LossFn> losses_;
  std::int64_t step_ = 0;
  std::vector<double> weight_sum_;  // sum over steps of w(t) (CPU path)
  // Reused every step (no allocation in the steady state):
  Tensor deltas_;                   // (B, T*D): task i's w_i dL_i/dz in columns [i*D, (i+1)*D)
  Tensor stacked_wgrad_;            // (T*D, D_in): task i's grad_W (w_i L_i) in rows [i*D, (i+1)*D)
  Tensor stacked_bgrad_;            // (T*D): task i's grad_b (w_i L_i)
  Tensor combined_;                 // (B, D): sum_i w_i dL_i/dz
  Tensor grad_h_;                   // (B, D_in): dL/dh when the backward starts below W
  std::vector<Tensor> loss_grads_;  // per task, shaped like its prediction
  // The CUDA path keeps these on the device (the CPU path uses host vectors in StepStats):
  Tensor losses_dev_, sq_norms_dev_, flags_dev_;  // (T) float64, (T) float64, (T) int flags
  Tensor weight_sum_dev_, weight_now_dev_;        // (T) float64: sum over steps of w(t); w(t) as float64
  struct DeviceTables;                            // the norm kernel's uploaded piece table
  std::shared_ptr<DeviceTables> tables_;
};

}  // namespace gn::multitask
