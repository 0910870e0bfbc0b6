#include "multitask/step.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <ranges>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/weighted_loss.h"

namespace gn::multitask {

MultitaskStep::MultitaskStep(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer,
                             Communicator* comm, std::size_t bucket_bytes)
    : model_(model), weighting_(weighting), optimizer_(optimizer), comm_(comm) {
  GN_CHECK(weighting.num_tasks() == model.num_tasks(), "MultitaskStep: weighting '{}' has {} tasks, the model {}",
           weighting.name(), weighting.num_tasks(), model.num_tasks());
  if (parallel()) reducer_ = std::make_unique<nn::GradReducer>(*comm_, bucket_bytes);
}

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// backward(root, seed), telling `ready` (data parallel) as the parameters' gradients become final.
void backward_with(const Tensor& root, const Tensor& seed, const GradReadyHook* ready) {
  if (ready == nullptr) return backward(root, seed);
  const Tensor roots[] = {root}, seeds[] = {seed};
  backward(roots, seeds, *ready);
}

}  // namespace

// ---- data parallel: the three reductions (step.h) ----

// B_r / B: this rank's rows over the global batch's. One all-reduce of one host number per step (the
// slices may differ by a row when N does not divide B; every rank learns B without trusting a convention).
double MultitaskStep::local_share(std::int64_t local_rows) {
  const auto t0 = Clock::now();
  double rows[1] = {static_cast<double>(local_rows)};
  comm_->all_reduce_sum(rows);
  comm_ms_ += ms_since(t0);
  GN_CHECK(local_rows >= 1, "multitask step: rank {} has an empty slice of the batch ({} rows over {} ranks)",
           comm_->rank(), rows[0], comm_->size());
  return static_cast<double>(local_rows) / rows[0];
}

// L_i <- sum_r c_i,r L_i,r: the mean over the global batch, c_i,r = B_r / B for a mean over rows of equal
// size, count_i,r / count_i for a masked mean (task_share_, step_masked.cpp).
void MultitaskStep::reduce_losses(double share) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < task_share_.size(); ++i)
    dispatch::scale<double>(losses_.device(), 1, task_share_[i], losses_.data<double>() + i);
  comm_->all_reduce_sum(losses_);
  comm_ms_ += ms_since(t0);
}

// The T per-task gradients of W's parameters (each w_i-weighted already, of the local mean loss): scaled by
// B_r / B and summed, they are the per-task gradients of the global loss, so the norm kernel sees the global
// G_i on every rank.
void MultitaskStep::reduce_stacked_grads(double share) {
  const auto t0 = Clock::now();
  std::vector<CommHandle> handles;
  for (Tensor& g : stacked_grads_) {
    GN_DISPATCH_FLOAT(g.dtype(), "per-task W gradients", [&] {
      dispatch::scale<scalar_t>(g.device(), g.numel(), static_cast<scalar_t>(share), g.data<scalar_t>());
    });
    handles.push_back(comm_->start_all_reduce_sum(g));
  }
  for (CommHandle& h : handles) h.wait();
  comm_ms_ += ms_since(t0);
}

// Every network parameter's gradient, except W's when it was built from the reduced per-task blocks, in
// buckets started during the trunk backward as their gradients become final (nn/grad_reducer.h): the hook
// returned goes to that backward. The heads' gradients are final already (step 3): the trunk backward does not
// reach them, so the engine fires them first. Time in the hook's calls (pack, start) counts as communication.
GradReadyHook MultitaskStep::begin_network_reduction(double share, bool shared_done) {
  const auto t0 = Clock::now();
  std::vector<Tensor> params = model_.parameters();  // the model's order: the same on every rank
  if (shared_done)
    for (const Tensor& w : model_.shared().parameters())
      std::erase_if(params, [&](const Tensor& p) { return p.raw_data() == w.raw_data(); });
  reducer_->begin(params, share);
  GradReadyHook hook = reducer_->hook();
  comm_ms_ += ms_since(t0);
  return {hook.leaves, [this, mark = std::move(hook.on_ready)](std::size_t k) {
            const auto t = Clock::now();
            mark(k);
            comm_ms_ += ms_since(t);
          }};
}

void MultitaskStep::finish_network_reduction() {
  const auto t0 = Clock::now();
  reducer_->finish();  // what the backward did not mark, then wait and unpack
  comm_ms_ += ms_since(t0);
}

void MultitaskStep::ensure_buffers(const Tensor& h, const Tensor& z) {
  const std::int64_t T = model_.num_tasks();
  GN_CHECK(z.dim() >= 2, "multitask step: the shared representation z must be (B, C, ...), got {}",
           to_string(z.shape()));
  Shape stacked = z.shape();
  stacked[1] *= T;
  if (deltas_.defined() && deltas_.shape() == stacked && deltas_.dtype() == z.dtype() &&
      deltas_.device() == z.device() && grad_h_.shape() == h.shape())
    return;
  const Device dev = z.device();
  deltas_ = Tensor::empty(stacked, z.dtype(), dev);
  combined_ = Tensor::empty(z.shape(), z.dtype(), dev);
  grad_h_ = Tensor::empty(h.shape(), h.dtype(), dev);
  stacked_grads_.clear();
  for (const Tensor& p : model_.shared().parameters()) {
    Shape s{T};
    s.insert(s.end(), p.shape().begin(), p.shape().end());
    stacked_grads_.push_back(Tensor::empty(s, p.dtype(), dev));
  }
  loss_grads_.clear();
  losses_ = Tensor::zeros({T}, DType::Float64, dev);
  sq_norms_ = Tensor::zeros({T}, DType::Float64, dev);
  flags_ = Tensor::zeros({T}, DType::Int64, dev);  // T ints fit in T int64 slots
  // The weight sum is double, whatever the model's dtype, and survives a move (or a loaded state).
  if (!weight_sum_.defined()) weight_sum_ = Tensor::zeros({T}, DType::Float64, dev);
  if (weight_sum_.device() != dev) weight_sum_ = weight_sum_.to(dev);
  if (!weights_now_.defined() || weights_now_.device() != dev) weights_now_ = Tensor::zeros({T}, DType::Float64, dev);
  if (!diverged_.defined()) diverged_ = Tensor::zeros({4}, DType::Int64, dev);
  if (diverged_.device() != dev) diverged_ = diverged_.to(dev);
}

void MultitaskStep::record_nonfinite(std::int64_t step, const Tensor* sq_norms, bool weights) {
  const int T = model_.num_tasks();
  const Tensor& w = weighting_.weights();
  GN_DISPATCH_FLOAT(w.dtype(), "divergence check", [&] {
    dispatch::record_nonfinite<scalar_t>(diverged_.device(), T, losses_.data<double>(),
                                         sq_norms != nullptr ? sq_norms->data<double>() : nullptr,
                                         weights ? w.data<scalar_t>() : nullptr, step, diverged_.data<std::int64_t>());
  });
  if (diverged_.device().is_cpu()) check_divergence();  // host memory: reading it costs nothing
}

void MultitaskStep::check_divergence() const {
  if (!diverged_.defined()) return;
  std::int64_t r[4];
  if (diverged_.device().is_cpu()) {
    const std::int64_t* p = diverged_.data<std::int64_t>();
    std::copy(p, p + 4, r);
  } else {
    const std::vector<double> v = diverged_.to_vector();
    for (int k = 0; k < 4; ++k) r[k] = static_cast<std::int64_t>(v[static_cast<std::size_t>(k)]);
  }
  if (r[0] == 0) return;
  const std::int64_t step = r[0] - 1;
  const int i = static_cast<int>(r[1]);
  const char* value = r[3] == cpu::kDivergedNaN ? "nan" : r[3] == cpu::kDivergedPosInf ? "inf" : "-inf";
  const std::string name = i >= 0 && i < model_.num_tasks() ? model_.task(i).name : std::string("?");
  const std::string quantity = r[2] == cpu::kDivergedLoss   ? fmt::format("loss L_{}", i)
                               : r[2] == cpu::kDivergedNorm ? fmt::format("gradient norm G_{} at W", i)
                                                            : fmt::format("weight w_{} (after the update)", i);
  throw TrainingDiverged(
      step, fmt::format("training diverged at step {}: task {} ('{}') {} is {}", step, i, name, quantity, value));
}

StepStats MultitaskStep::step(const Tensor& x, std::span<const Tensor> targets, bool want_stats) {
  const int T = model_.num_tasks();
  GN_CHECK(static_cast<int>(targets.size()) == T, "step: {} targets for {} tasks", targets.size(), T);
  const std::int64_t step_index = step_++;
  const double share = parallel() ? local_share(x.size(0)) : 1.0;  // B_r / B
  optimizer_.zero_grad();

  // 1. Trunk forward once, cut at z. The weighting follows the model to its device and dtype (once).
  const Tensor h = model_.trunk_below().forward(x);
  const Tensor z = model_.shared().forward(h);
  const Tensor z_cut = z.detach().set_requires_grad();
  ensure_buffers(h, z);
  weighting_.to(z.device(), z.dtype());
  const Tensor& w = weighting_.master_weights();
  if (want_stats) weights_now_.copy_(w);
  dispatch::axpy<double>(w.device(), T, 1.0, w.data<double>(), weight_sum_.data<double>());

  // 2-3. Heads forward, weighted loss gradients, each head backward to the cut.
  std::vector<Tensor> preds;
  for (int i = 0; i < T; ++i) preds.push_back(model_.head(i).forward(z_cut));
  if (parallel()) masked_shares(preds, targets, share);  // c_i,r; seed_weights_ when a loss is a masked mean
  head_backward(preds, targets, z_cut);
  if (parallel()) reduce_losses(share);  // the global L_i on every rank

  // 4-5. Norms at W (only if the weighting needs them) and the weight update.
  const bool norms = weighting_.needs_grad_norms();
  if (norms) {
    model_.shared().stacked_parameter_grads(h, deltas_, T, stacked_grads_);
    if (parallel()) reduce_stacked_grads(share);  // before the norms: the global G_i on every rank
    task_norms();
  }
  record_nonfinite(step_index, norms ? &sq_norms_ : nullptr, false);  // L_i and G_i, before the weighting sees them
  weighting_.update({step_index, losses_, norms ? sq_norms_ : Tensor(), norms ? flags_ : Tensor()});
  record_nonfinite(step_index, nullptr, true);  // w(t+1) as the next step will use it

  // 6. Fused combine of the (already weighted) per-task gradients at z.
  combine();

  // 7. One trunk backward, then the network update. When the norms were computed, W's own gradient is
  //    already in hand: grad_W L = sum_i grad_W (w_i L_i), the sum of the stacked per-task blocks. So the
  //    backward starts below W, at h, and skips W's weight-gradient product (it would recompute that sum).
  //    With N > 1 ranks the gradient all-reduce runs during this backward (W's gradient is global already
  //    when `below`, so it is left out); one rank alone takes no hook.
  const bool below = norms && h.requires_grad();
  std::optional<GradReadyHook> ready;
  if (parallel()) ready = begin_network_reduction(share, below);
  if (below)
    backward_below_shared(h, ready ? &*ready : nullptr);
  else
    backward_with(z, combined_, ready ? &*ready : nullptr);
  if (parallel()) finish_network_reduction();
  optimizer_.step();
  if (!want_stats) {
    StepStats only_index;
    only_index.step = step_index;
    return only_index;
  }
  return read_stats(step_index, norms);
}

StepStats MultitaskStep::read_stats(std::int64_t step, bool norms) const {
  const int T = model_.num_tasks();
  check_divergence();  // first: it names the step, the task and the quantity
  weighting_.check_health();
  StepStats s;
  s.step = step;
  s.weights = weights_now_.to_vector();
  s.losses = losses_.to_vector();
  for (int i = 0; i < T; ++i) s.total_loss += s.weights[i] * s.losses[i];
  if (norms) {
    const auto sq = sq_norms_.to_vector();
    s.weighted_norms.resize(T);
    s.grad_norms.resize(T);
    for (int i = 0; i < T; ++i) {
      s.weighted_norms[i] = std::sqrt(sq[i]);
      s.grad_norms[i] = s.weighted_norms[i] / s.weights[i];
    }
  }
  s.next_weights = weighting_.read_weights();
  s.diagnostics = weighting_.read_diagnostics();
  return s;
}

std::vector<double> MultitaskStep::mean_weights() const {
  if (step_ == 0) return weighting_.read_weights();
  std::vector<double> mean = weight_sum_.to_vector();
  for (auto& v : mean) v /= static_cast<double>(step_);
  return mean;
}

nn::StateDict MultitaskStep::state_dict() const {
  const std::int64_t T = model_.num_tasks();
  return {{"steps", nn::state_count(step_)},
          {"weight_sum", weight_sum_.defined() ? weight_sum_.clone() : Tensor::zeros({T}, DType::Float64)}};
}

void MultitaskStep::load_state_dict(const nn::StateDict& state) {
  const std::int64_t T = model_.num_tasks();
  const nn::StateDict expected{{"steps", nn::state_count(0)}, {"weight_sum", Tensor::zeros({T}, DType::Float64)}};
  const nn::StateMatch m = nn::match_state(state, expected, "MultitaskStep");
  const std::int64_t steps = nn::read_count(m.sources[0]);
  GN_CHECK(steps >= 0, "MultitaskStep: load_state_dict: 'steps' is {}, must be >= 0", steps);
  if (weight_sum_.defined())
    nn::copy_state(weight_sum_, m.sources[1]);
  else
    weight_sum_ = m.sources[1].to(cpu_device()).clone();  // ensure_buffers moves it to the model's device
  step_ = steps;
  if (diverged_.defined()) diverged_.fill_(0);  // a loaded state starts with a clean record
}

void MultitaskStep::backward_below_shared(const Tensor& h, const GradReadyHook* ready) {
  const int T = model_.num_tasks();
  const auto params = model_.shared().parameters();
  for (std::size_t k = 0; k < params.size(); ++k) {
    Tensor p = params[k];
    Tensor g = p.grad();
    if (!g.defined()) {  // first step: no buffer yet
      g = Tensor::zeros(p.shape(), p.dtype(), p.device());
      p.set_grad(g);
    }
    const std::int64_t block = p.numel();
    const Tensor& stacked = stacked_grads_[k];
    GN_DISPATCH_FLOAT(g.dtype(), "shared-layer gradient", [&] {
      for (int i = 0; i < T; ++i)
        dispatch::axpy<scalar_t>(g.device(), block, scalar_t(1), stacked.data<scalar_t>() + i * block,
                                 g.data<scalar_t>());
    });
  }
  model_.shared().input_grad(combined_, grad_h_);
  backward_with(h, grad_h_, ready);
}

void MultitaskStep::fused_mse(const std::vector<Tensor>& preds, std::span<const Tensor> targets) {
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
    dispatch::multitask_mse<scalar_t>(preds[0].device(), T, preds[0].numel(), p.data(), y.data(),
                                      weighting_.weights().data<scalar_t>(), losses_.data<double>(), g.data());
  });
}

void MultitaskStep::head_backward(const std::vector<Tensor>& preds, std::span<const Tensor> targets,
                                  const Tensor& z_cut) {
  const int T = model_.num_tasks();
  const std::int64_t B = z_cut.size(0), S = z_cut.numel() / B;  // S: one sample's share of z
  const std::size_t elem = dtype_size(z_cut.dtype());
  std::vector<Tensor> seeds(T), roots = preds;
  // The fused kernel needs every target at its prediction's shape (keypoint heatmaps at a higher resolution
  // are area-downsampled by their own loss instead).
  const bool same_shapes = std::ranges::all_of(std::views::iota(0, T), [&](int i) {
    return preds[static_cast<std::size_t>(i)].shape() == targets[static_cast<std::size_t>(i)].shape();
  });
  if (model_.all_mse() && same_shapes) {
    fused_mse(preds, targets);  // L_i and d(w_i L_i)/d pred_i for every task in one kernel call
    seeds = loss_grads_;
  } else {
    for (int i = 0; i < T; ++i) {
      const Tensor L = model_.task(i).loss.fn(preds[i], targets[i]);
      GN_CHECK(L.numel() == 1, "task {} ('{}') loss has shape {}, expected a scalar", i, model_.task(i).name,
               to_string(L.shape()));
      // L_i into the loss vector and w_i as a scalar view of the weights: no host read on any device.
      dispatch::cast(L.device(), 1, L.dtype(), L.raw_data(), DType::Float64, losses_.data<double>() + i);
      seeds[i] = (seed_weights_.defined() ? seed_weights_ : weighting_.weights()).slice(i, i + 1).reshape({});
      roots[i] = L;  // backpropagate from the loss instead of the prediction
    }
  }
  for (int i = 0; i < T; ++i) {
    const Tensor root[] = {roots[i]}, seed[] = {seeds[i]}, cut[] = {z_cut};
    const Tensor delta = backward_to(root, seed, cut)[0];  // z's shape: w_i dL_i/dz
    dispatch::copy_rows(delta.device(), B, S, elem, delta.raw_data(), S,
                        static_cast<char*>(deltas_.raw_data()) + i * S * elem, T * S);
  }
}

// ONE reduction over all tasks' pieces: for each parameter of W (or its weight alone, when the weighting
// asks), task i's slice of its stacked gradient.
void MultitaskStep::task_norms() {
  const int T = model_.num_tasks();
  const std::size_t used = weighting_.norms_over_weight_only() ? 1 : stacked_grads_.size();
  std::vector<dispatch::TaskSegment> segments;
  for (std::size_t k = 0; k < used; ++k) {
    const Tensor& g = stacked_grads_[k];
    const std::int64_t block = g.numel() / T;
    for (int i = 0; i < T; ++i)
      segments.push_back({i, static_cast<const char*>(g.raw_data()) + i * block * dtype_size(g.dtype()), block});
  }
  norm_plan_.run(deltas_.device(), deltas_.dtype(), T, segments, sq_norms_.data<double>(),
                 static_cast<int*>(flags_.raw_data()));
}

void MultitaskStep::combine() {
  const int T = model_.num_tasks();
  const std::int64_t B = combined_.size(0), S = combined_.numel() / B;
  GN_DISPATCH_FLOAT(combined_.dtype(), "combine", [&] {
    dispatch::combine_task_blocks<scalar_t>(combined_.device(), B, T, S, deltas_.data<scalar_t>(), nullptr,
                                            combined_.data<scalar_t>());
  });
}

}  // namespace gn::multitask
