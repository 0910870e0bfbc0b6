// MultitaskStep's data-parallel shares of the task losses (multitask/step.h, "Masked losses").
//
// A masked mean (depth over valid pixels, labels that are not ignored, non-zero normals) over the global
// batch is
//     L_i = (sum over ranks of the valid terms' sum) / count_i = sum_r (count_i,r / count_i) L_i,r,
// where L_i,r is rank r's own masked mean over its count_i,r valid terms. The plain rule of the other
// reductions, sum_r (B_r / B) L_i,r, is exact only when every row holds as many terms; with masks it
// over-weights the rank with fewer valid pixels. So each rank needs the global count_i: one all-reduce of
// the T counts per step (only when some task has a masked loss).
//
// The gradient reductions keep their one scale_r = B_r / B (one bucketed all-reduce for the network, one
// per W parameter for the per-task blocks): instead, head i's backward is seeded with
// w_i c_i,r / scale_r rather than w_i. Every gradient from task i on rank r is then (c_i,r / scale_r) times
// the local one, and the reductions' scale_r turns it into c_i,r grad (w_i L_i,r): summed over the ranks,
// exactly grad (w_i L_i) of the global masked mean, for the heads, the per-task W blocks (hence G_i) and
// the trunk.
#include <chrono>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "multitask/step.h"

namespace gn::multitask {

void MultitaskStep::masked_shares(const std::vector<Tensor>& preds, std::span<const Tensor> targets, double share) {
  const int T = model_.num_tasks();
  task_share_.assign(static_cast<std::size_t>(T), share);
  seed_weights_ = Tensor();
  std::vector<int> masked;
  std::vector<double> counts;
  for (int i = 0; i < T; ++i) {
    const TaskLoss& loss = model_.task(i).loss;
    if (!loss.count) continue;
    const double n = loss.count(preds[i], targets[i]);
    GN_CHECK(n >= 0 && std::isfinite(n), "task {} ('{}'): loss '{}' counted {} terms on rank {}", i,
             model_.task(i).name, loss.name, n, comm_->rank());
    masked.push_back(i);
    counts.push_back(n);
  }
  if (masked.empty()) return;  // every loss is a mean over rows of equal size: c_i,r = B_r / B
  std::vector<double> global = counts;
  const auto t0 = std::chrono::steady_clock::now();
  comm_->all_reduce_sum(global);
  comm_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> factor(static_cast<std::size_t>(T), 1.0);
  for (std::size_t k = 0; k < masked.size(); ++k) {
    const auto i = static_cast<std::size_t>(masked[k]);
    // No valid term anywhere in the global batch: every rank's loss and gradient are 0 already (the
    // losses' rule), and so is the global one.
    task_share_[i] = global[k] > 0 ? counts[k] / global[k] : 0.0;
    factor[i] = task_share_[i] / share;
  }
  NoGradGuard no_grad;
  const Tensor& w = weighting_.weights();
  seed_weights_ = mul(w, Tensor::from_vector(factor, {T}, w.dtype(), w.device()));
}

}  // namespace gn::multitask
