#include "multitask/step.h"

#include <cmath>
#include <memory>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/stream.h"
#include "kernels/cuda/task_norms.h"
#include "kernels/cuda/weighted_loss.h"
#endif

namespace gn::multitask {

#ifdef GN_WITH_CUDA
struct MultitaskStep::DeviceTables {
  cuda::TaskPieceTable<float> pieces;  // uploaded once; set() re-uploads only if the pieces change
};
#else
struct MultitaskStep::DeviceTables {};
#endif

namespace {
// The CUDA calls of the step, here so that no preprocessor branch sits inside a dispatch macro.
template <class T>
void cuda_multitask_mse(int tasks, std::int64_t n, const T* const* p, const T* const* y, const T* w, double* losses,
                        T* const* g) {
#ifdef GN_WITH_CUDA
  cuda::multitask_mse<T>(tasks, n, p, y, w, losses, g, cuda::current_stream());
#else
  no_cuda_kernel("multitask mse");
#endif
}
template <class T>
void cuda_combine(std::int64_t B, int tasks, std::int64_t D, const T* deltas, T* out) {
#ifdef GN_WITH_CUDA
  cuda::combine_task_blocks<T>(B, tasks, D, deltas, nullptr, out, cuda::current_stream());
#else
  no_cuda_kernel("combine");
#endif
}
}  // namespace

// Task i's pieces for the CUDA norm kernel: rows [i*D, (i+1)*D) of the stacked weight gradient and
// entries [i*D, (i+1)*D) of the stacked bias gradient. Uploaded once; later steps compare on the host.
void MultitaskStep::set_device_pieces(const Tensor& h) {
#ifdef GN_WITH_CUDA
  const int T = model_.num_tasks();
  const std::int64_t D_in = h.shape()[1], D = deltas_.shape()[1] / T;
  std::vector<cuda::TaskPiece<float>> pieces;
  for (int i = 0; i < T; ++i) pieces.push_back({i, stacked_wgrad_.data<float>() + i * D * D_in, D * D_in});
  if (model_.shared().bias.defined())
    for (int i = 0; i < T; ++i) pieces.push_back({i, stacked_bgrad_.data<float>() + i * D, D});
  tables_->pieces.set(T, pieces, cuda::current_stream());
#else
  no_cuda_kernel("task norms");
#endif
}

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

// Once, at the first CUDA step: the weighting's state moves to the device and stays there.
void MultitaskStep::prepare_device(Device device, DType dtype) {
  if (losses_dev_.defined()) return;
  GN_CHECK(dtype == DType::Float32, "multitask step on CUDA: float32 models only, got {}", dtype_name(dtype));
  const std::int64_t T = model_.num_tasks();
  weighting_.to_device(device, dtype);
  losses_dev_ = Tensor::zeros({T}, DType::Float64, device);
  sq_norms_dev_ = Tensor::zeros({T}, DType::Float64, device);
  flags_dev_ = Tensor::zeros({T}, DType::Int64, device);         // T ints fit in T int64 slots
  weight_sum_dev_ = Tensor::zeros({T}, DType::Float64, device);  // double, like the CPU path's sum
  weight_now_dev_ = Tensor::zeros({T}, DType::Float64, device);
  tables_ = std::make_shared<DeviceTables>();
}

StepStats MultitaskStep::step(const Tensor& x, std::span<const Tensor> targets, bool want_stats) {
  const int T = model_.num_tasks();
  GN_CHECK(static_cast<int>(targets.size()) == T, "step: {} targets for {} tasks", targets.size(), T);
  const bool on_cuda = x.device().is_cuda();
  StepStats stats;
  stats.step = step_++;
  Tensor weights_before;  // CUDA: w(t) kept for the stats, read only if asked for
  if (on_cuda) {
    prepare_device(x.device(), x.dtype());
    const Tensor& w = weighting_.device_weights();
    dispatch::cast(w.device(), T, w.dtype(), w.raw_data(), DType::Float64, weight_now_dev_.raw_data());
    dispatch::axpy<double>(w.device(), T, 1.0, weight_now_dev_.data<double>(), weight_sum_dev_.data<double>());
    if (want_stats) weights_before = w.clone();
  } else {
    stats.weights = weighting_.weights();
    if (weight_sum_.empty()) weight_sum_.assign(T, 0.0);
    for (int i = 0; i < T; ++i) weight_sum_[i] += stats.weights[i];
  }
  optimizer_.zero_grad();

  // 1. Trunk forward once, cut at z.
  const Tensor h = model_.trunk_below().forward(x);
  const Tensor z = model_.shared().forward(h);
  const Tensor z_cut = z.detach().set_requires_grad();
  ensure_buffers(z.shape()[0], z.shape()[1], h.shape()[1], z.dtype(), z.device());

  // 2-3. Heads forward, weighted loss gradients, each head backward to the cut.
  std::vector<Tensor> preds;
  for (int i = 0; i < T; ++i) preds.push_back(model_.head(i).forward(z_cut));
  head_backward(preds, targets, z_cut, stats);

  // 4-5. Norms at W (only if the weighting needs them) and the weight update.
  const bool norms = weighting_.needs_grad_norms();
  if (norms) stacked_shared_grads(h);
  if (on_cuda) {
#ifdef GN_WITH_CUDA
    if (norms) {
      cuda::per_task_sq_norms<float>(tables_->pieces, sq_norms_dev_.data<double>(),
                                     static_cast<int*>(flags_dev_.raw_data()), cuda::current_stream());
    }
    weighting_.update_device(losses_dev_, norms ? sq_norms_dev_ : Tensor(), norms ? flags_dev_ : Tensor(), stats.step);
#endif
  } else {
    if (norms) task_norms_host(stats);
    for (int i = 0; i < T; ++i) stats.total_loss += stats.weights[i] * stats.losses[i];
    weighting_.update(stats);
  }

  // 6. Fused combine of the (already weighted) per-task gradients at z.
  combine();

  // 7. One trunk backward, then the network update. When the norms were computed, W's own gradient is
  //    already in hand: grad_W L = sum_i grad_W (w_i L_i), the sum of the stacked per-task blocks. So the
  //    backward starts below W, at h, and skips W's weight-gradient GEMM (it would recompute that sum).
  if (norms && h.requires_grad())
    backward_below_shared(h, T);
  else
    backward(z, combined_);
  optimizer_.step();
  if (on_cuda && want_stats) read_device_stats(weights_before, stats);
  return stats;
}

void MultitaskStep::backward_below_shared(const Tensor& h, int T) {
  nn::Linear& W = model_.shared();
  const std::int64_t B = combined_.shape()[0], D = combined_.shape()[1], D_in = h.shape()[1];
  const Device dev = h.device();
  if (!grad_h_.defined() || grad_h_.shape() != h.shape()) grad_h_ = Tensor::empty(h.shape(), h.dtype(), dev);
  auto accumulate_blocks = [&](Tensor param, const Tensor& stacked, std::int64_t block) {
    Tensor g = param.grad();
    if (!g.defined()) {  // first step: no buffer yet
      g = Tensor::zeros(param.shape(), param.dtype(), dev);
      param.set_grad(g);
    }
    GN_DISPATCH_FLOAT(g.dtype(), "shared-layer gradient", [&] {
      for (int i = 0; i < T; ++i)
        dispatch::axpy<scalar_t>(dev, block, scalar_t(1), stacked.data<scalar_t>() + i * block, g.data<scalar_t>());
    });
  };
  accumulate_blocks(W.weight, stacked_wgrad_, D * D_in);
  if (W.bias.defined()) accumulate_blocks(W.bias, stacked_bgrad_, D);
  GN_DISPATCH_FLOAT(h.dtype(), "shared-layer backward", [&] {  // dL/dh = delta W: (B, D) x (D, D_in)
    dispatch::gemm<scalar_t>(dev, false, false, B, D_in, D, scalar_t(1), combined_.data<scalar_t>(),
                             W.weight.data<scalar_t>(), scalar_t(0), grad_h_.data<scalar_t>());
  });
  backward(h, grad_h_);
}

void MultitaskStep::read_device_stats(const Tensor& weights_before, StepStats& stats) {
  const int T = model_.num_tasks();
  stats.weights = weights_before.to_vector();  // the host reads below are this step's sync point
  stats.losses = losses_dev_.to_vector();
  for (int i = 0; i < T; ++i) stats.total_loss += stats.weights[i] * stats.losses[i];
  if (weighting_.needs_grad_norms()) {
    const auto sq = sq_norms_dev_.to_vector();
    stats.weighted_norms.resize(T);
    stats.grad_norms.resize(T);
    for (int i = 0; i < T; ++i) {
      stats.weighted_norms[i] = std::sqrt(sq[i]);
      stats.grad_norms[i] = stats.weighted_norms[i] / stats.weights[i];
    }
  }
  weighting_.read_device(&stats);
}

std::vector<double> MultitaskStep::current_weights() const {
  if (losses_dev_.defined()) weighting_.read_device(nullptr);
  return weighting_.weights();
}

std::vector<double> MultitaskStep::mean_weights() const {
  if (step_ == 0) return weighting_.weights();
  std::vector<double> mean = losses_dev_.defined() ? weight_sum_dev_.to_vector() : weight_sum_;
  for (auto& v : mean) v /= static_cast<double>(step_);
  return mean;
}

void MultitaskStep::fused_mse(const std::vector<Tensor>& preds, std::span<const Tensor> targets, StepStats& stats) {
  const int T = model_.num_tasks();
  if (loss_grads_.size() != static_cast<std::size_t>(T) || loss_grads_[0].shape() != preds[0].shape()) {
    loss_grads_.clear();
    for (int i = 0; i < T; ++i)
      loss_grads_.push_back(Tensor::empty(preds[i].shape(), preds[i].dtype(), preds[i].device()));
  }
  for (int i = 0; i < T; ++i) {
    check_same_dtype_device(preds[i], targets[i], "mse (multitask)");
    GN_CHECK(preds[i].shape() == targets[i].shape() && preds[i].numel() == preds[0].numel(),
             "mse (multitask): task {} prediction {} vs target {} (all tasks need equal sizes for the fused kernel)", i,
             to_string(preds[i].shape()), to_string(targets[i].shape()));
  }
  GN_DISPATCH_FLOAT(preds[0].dtype(), "mse (multitask)", [&] {
    std::vector<const scalar_t*> p(T), y(T);
    std::vector<scalar_t*> g(T);
    for (int i = 0; i < T; ++i) {
      p[i] = preds[i].data<scalar_t>();
      y[i] = targets[i].data<scalar_t>();
      g[i] = loss_grads_[i].data<scalar_t>();
    }
    if (preds[0].device().is_cpu()) {
      const std::vector<scalar_t> w(weighting_.weights().begin(), weighting_.weights().end());
      stats.losses.resize(T);
      cpu::multitask_mse<scalar_t>(T, preds[0].numel(), p.data(), y.data(), w.data(), stats.losses.data(), g.data());
    } else {
      cuda_multitask_mse<scalar_t>(T, preds[0].numel(), p.data(), y.data(),
                                   weighting_.device_weights().data<scalar_t>(), losses_dev_.data<double>(), g.data());
    }
  });
}

void MultitaskStep::head_backward(const std::vector<Tensor>& preds, std::span<const Tensor> targets,
                                  const Tensor& z_cut, StepStats& stats) {
  const int T = model_.num_tasks();
  const std::int64_t B = z_cut.shape()[0], D = z_cut.shape()[1];
  const std::size_t elem = dtype_size(z_cut.dtype());
  std::vector<Tensor> seeds(T), roots = preds;
  if (losses_.empty()) {
    fused_mse(preds, targets, stats);  // L_i and d(w_i L_i)/d pred_i for every task in one kernel call
    seeds = loss_grads_;
  } else {
    const bool on_cuda = z_cut.device().is_cuda();
    if (!on_cuda) stats.losses.resize(T);
    for (int i = 0; i < T; ++i) {
      const Tensor L = losses_[i](preds[i], targets[i]);
      GN_CHECK(L.numel() == 1, "task {} loss has shape {}, expected a scalar", i, to_string(L.shape()));
      if (on_cuda) {  // L_i into the device loss vector and w_i as a device scalar: no host read
        dispatch::cast(L.device(), 1, L.dtype(), L.raw_data(), DType::Float64,
                       static_cast<double*>(losses_dev_.raw_data()) + i);
        seeds[i] = weighting_.device_weights().slice(i, i + 1).reshape({});
      } else {
        stats.losses[i] = L.item();
        seeds[i] = Tensor::scalar(weighting_.weights()[i], L.dtype(), L.device());
      }
      roots[i] = L;  // backpropagate from the loss instead of the prediction
    }
  }
  for (int i = 0; i < T; ++i) {
    const Tensor root[] = {roots[i]}, seed[] = {seeds[i]}, cut[] = {z_cut};
    const Tensor delta = backward_to(root, seed, cut)[0];  // (B, D) = w_i dL_i/dz
    dispatch::copy_rows(delta.device(), B, D, elem, delta.raw_data(), D,
                        static_cast<char*>(deltas_.raw_data()) + i * D * elem, T * D);
  }
}

// All T per-task gradients of W in ONE GEMM, (T*D, B) x (B, D_in) = deltas^T h, and of its bias as the
// column sums of the deltas. Task i's pieces: rows [i*D, (i+1)*D) and entries [i*D, (i+1)*D).
void MultitaskStep::stacked_shared_grads(const Tensor& h) {
  if (h.device().is_cuda()) set_device_pieces(h);
  const std::int64_t B = h.shape()[0], D_in = h.shape()[1], TD = deltas_.shape()[1];
  const bool has_bias = model_.shared().bias.defined();
  GN_DISPATCH_FLOAT(h.dtype(), "task norms", [&] {
    dispatch::gemm<scalar_t>(h.device(), true, false, TD, D_in, B, scalar_t(1), deltas_.data<scalar_t>(),
                             h.data<scalar_t>(), scalar_t(0), stacked_wgrad_.data<scalar_t>());
    if (has_bias)
      dispatch::sum_axis<scalar_t>(h.device(), 1, B, TD, deltas_.data<scalar_t>(), scalar_t(1),
                                   stacked_bgrad_.data<scalar_t>());
  });
}

// ONE reduction over all tasks' pieces, on the host (CPU path).
void MultitaskStep::task_norms_host(StepStats& stats) {
  const int T = model_.num_tasks();
  const std::int64_t D_in = stacked_wgrad_.shape()[1], D = stacked_wgrad_.shape()[0] / T;
  const bool has_bias = model_.shared().bias.defined();
  std::vector<double> sq(T);
  const auto nonfinite = std::make_unique<bool[]>(static_cast<std::size_t>(T));
  GN_DISPATCH_FLOAT(stacked_wgrad_.dtype(), "task norms", [&] {
    std::vector<cpu::TaskPiece<scalar_t>> pieces;
    for (int i = 0; i < T; ++i) pieces.push_back({i, stacked_wgrad_.data<scalar_t>() + i * D * D_in, D * D_in});
    if (has_bias)
      for (int i = 0; i < T; ++i) pieces.push_back({i, stacked_bgrad_.data<scalar_t>() + i * D, D});
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

void MultitaskStep::combine() {
  const int T = model_.num_tasks();
  const std::int64_t B = combined_.shape()[0], D = combined_.shape()[1];
  GN_DISPATCH_FLOAT(combined_.dtype(), "combine", [&] {
    if (combined_.device().is_cpu()) {
      cpu::combine_task_blocks<scalar_t>(B, T, D, deltas_.data<scalar_t>(), nullptr, combined_.data<scalar_t>());
    } else {
      cuda_combine<scalar_t>(B, T, D, deltas_.data<scalar_t>(), combined_.data<scalar_t>());
    }
  });
}

}  // namespace gn::multitask
