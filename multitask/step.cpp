#include "multitask/step.h"

#include <cmath>
#include <memory>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/copy.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"

namespace gn::multitask {

MultitaskStep::MultitaskStep(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer,
                             std::vector<LossFn> losses)
    : model_(model), weighting_(weighting), optimizer_(optimizer), losses_(std::move(losses)) {
  GN_CHECK(weighting.num_tasks() == model.num_tasks(), "MultitaskStep: weighting has {} tasks, the model {}",
           weighting.num_tasks(), model.num_tasks());
  GN_CHECK(losses_.empty() || static_cast<int>(losses_.size()) == model.num_tasks(),
           "MultitaskStep: {} loss functions for {} tasks", losses_.size(), model.num_tasks());
}

void MultitaskStep::ensure_buffers(std::int64_t B, std::int64_t D, std::int64_t D_in, DType dtype, Device device) {
  const std::int64_t T = model_.num_tasks();
  if (deltas_.defined() && deltas_.shape() == Shape{B, T * D} && deltas_.dtype() == dtype &&
      stacked_wgrad_.shape() == Shape{T * D, D_in})
    return;
  deltas_ = Tensor::empty({B, T * D}, dtype, device);
  stacked_wgrad_ = Tensor::empty({T * D, D_in}, dtype, device);
  stacked_bgrad_ = Tensor::empty({T * D}, dtype, device);
  combined_ = Tensor::empty({B, D}, dtype, device);
  loss_grads_.clear();
}

StepStats MultitaskStep::step(const Tensor& x, std::span<const Tensor> targets, [[maybe_unused]] bool want_stats) {
  const int T = model_.num_tasks();
  GN_CHECK(static_cast<int>(targets.size()) == T, "step: {} targets for {} tasks", targets.size(), T);
  GN_CHECK(x.device().is_cpu(), "multitask step: the CUDA path of the step is not written yet");
  StepStats stats;
  stats.step = step_++;
  stats.weights = weighting_.weights();
  if (weight_sum_.empty()) weight_sum_.assign(T, 0.0);
  for (int i = 0; i < T; ++i) weight_sum_[i] += stats.weights[i];
  optimizer_.zero_grad();

  // 1. Trunk forward once, cut at z.
  const Tensor h = model_.trunk_below().forward(x);
  const Tensor z = model_.shared().forward(h);
  const Tensor z_cut = z.detach().set_requires_grad();
  ensure_buffers(z.shape()[0], z.shape()[1], h.shape()[1], z.dtype(), z.device());

  // 2-3. Heads forward, weighted loss gradients, each head backward to the cut.
  std::vector<Tensor> preds;
  for (int i = 0; i < T; ++i) preds.push_back(model_.head(i).forward(z_cut));
  stats.losses = head_backward(preds, targets, z_cut, stats.weights);
  for (int i = 0; i < T; ++i) stats.total_loss += stats.weights[i] * stats.losses[i];

  // 4-5. Norms at W (only if the weighting needs them) and the weight update.
  if (weighting_.needs_grad_norms()) task_norms(h, stats);
  weighting_.update(stats);

  // 6. Fused combine of the (already weighted) per-task gradients at z.
  const std::int64_t B = z.shape()[0], D = z.shape()[1];
  GN_DISPATCH_FLOAT(z.dtype(), "combine", [&] {
    cpu::combine_task_blocks<scalar_t>(B, T, D, deltas_.data<scalar_t>(), nullptr, combined_.data<scalar_t>());
  });

  // 7. One trunk backward from z, then the network update.
  backward(z, combined_);
  optimizer_.step();
  return stats;
}

std::vector<double> MultitaskStep::current_weights() const { return weighting_.weights(); }

std::vector<double> MultitaskStep::mean_weights() const {
  std::vector<double> mean = weight_sum_;
  for (auto& v : mean) v /= static_cast<double>(std::max<std::int64_t>(step_, 1));
  if (mean.empty()) mean = weighting_.weights();  // no step taken yet
  return mean;
}

std::vector<double> MultitaskStep::head_backward(const std::vector<Tensor>& preds, std::span<const Tensor> targets,
                                                 const Tensor& z_cut, const std::vector<double>& w) {
  const int T = model_.num_tasks();
  const std::int64_t B = z_cut.shape()[0], D = z_cut.shape()[1];
  const std::size_t elem = dtype_size(z_cut.dtype());
  std::vector<double> losses(T);
  std::vector<Tensor> seeds(T), roots = preds;
  if (losses_.empty()) {
    // Fused: L_i and d(w_i L_i)/d pred_i for every task in one kernel call.
    if (loss_grads_.size() != static_cast<std::size_t>(T) || loss_grads_[0].shape() != preds[0].shape()) {
      loss_grads_.clear();
      for (int i = 0; i < T; ++i) loss_grads_.push_back(Tensor::empty(preds[i].shape(), preds[i].dtype()));
    }
    for (int i = 0; i < T; ++i) {
      check_same_dtype_device(preds[i], targets[i], "mse (multitask)");
      GN_CHECK(preds[i].shape() == targets[i].shape() && preds[i].numel() == preds[0].numel(),
               "mse (multitask): task {} prediction {} vs target {} (all tasks need equal sizes for the fused kernel)",
               i, to_string(preds[i].shape()), to_string(targets[i].shape()));
    }
    GN_DISPATCH_FLOAT(z_cut.dtype(), "mse (multitask)", [&] {
      std::vector<const scalar_t*> p(T), y(T);
      std::vector<scalar_t*> g(T);
      std::vector<scalar_t> wt(w.begin(), w.end());
      for (int i = 0; i < T; ++i) {
        p[i] = preds[i].data<scalar_t>();
        y[i] = targets[i].data<scalar_t>();
        g[i] = loss_grads_[i].data<scalar_t>();
      }
      cpu::multitask_mse<scalar_t>(T, preds[0].numel(), p.data(), y.data(), wt.data(), losses.data(), g.data());
    });
    seeds = loss_grads_;
  } else {
    for (int i = 0; i < T; ++i) {
      const Tensor L = losses_[i](preds[i], targets[i]);
      GN_CHECK(L.numel() == 1, "task {} loss has shape {}, expected a scalar", i, to_string(L.shape()));
      losses[i] = L.item();
      seeds[i] = Tensor::scalar(w[i], L.dtype(), L.device());
      roots[i] = L;  // backpropagate from the loss instead of the prediction
    }
  }
  for (int i = 0; i < T; ++i) {
    const Tensor root[] = {roots[i]}, seed[] = {seeds[i]}, cut[] = {z_cut};
    const Tensor delta = backward_to(root, seed, cut)[0];  // (B, D) = w_i dL_i/dz
    cpu::copy_rows(B, D, elem, delta.raw_data(), D, static_cast<char*>(deltas_.raw_data()) + i * D * elem, T * D);
  }
  return losses;
}

void MultitaskStep::task_norms(const Tensor& h, StepStats& stats) {
  const int T = model_.num_tasks();
  const std::int64_t B = h.shape()[0], D_in = h.shape()[1], TD = deltas_.shape()[1], D = TD / T;
  const bool has_bias = model_.shared().bias.defined();
  std::vector<double> sq(T);
  const auto nonfinite = std::make_unique<bool[]>(static_cast<std::size_t>(T));
  GN_DISPATCH_FLOAT(h.dtype(), "task norms", [&] {
    // All T per-task weight gradients in ONE GEMM: (T*D, B) x (B, D_in), i.e. deltas^T h.
    cpu::gemm<scalar_t>(true, false, TD, D_in, B, scalar_t(1), deltas_.data<scalar_t>(), h.data<scalar_t>(),
                        scalar_t(0), stacked_wgrad_.data<scalar_t>());
    std::vector<cpu::TaskPiece<scalar_t>> pieces;
    for (int i = 0; i < T; ++i) pieces.push_back({i, stacked_wgrad_.data<scalar_t>() + i * D * D_in, D * D_in});
    if (has_bias) {  // bias gradients: column sums of the deltas over the batch
      cpu::sum_axis<scalar_t>(1, B, TD, deltas_.data<scalar_t>(), stacked_bgrad_.data<scalar_t>());
      for (int i = 0; i < T; ++i) pieces.push_back({i, stacked_bgrad_.data<scalar_t>() + i * D, D});
    }
    // ONE reduction for all tasks.
    cpu::per_task_sq_norms<scalar_t>(T, pieces, sq.data(), nonfinite.get());
  });
  stats.weighted_norms.resize(T);
  stats.grad_norms.resize(T);
  for (int i = 0; i < T; ++i) {
    GN_CHECK(!nonfinite[i], "step {}: task {}'s gradient at the shared layer is not finite", stats.step, i);
    stats.weighted_norms[i] = std::sqrt(sq[i]);
    stats.grad_norms[i] = stats.weighted_norms[i] / stats.weights[i];
  }
}

}  // namespace gn::multitask
