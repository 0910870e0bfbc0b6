#include "nn/grad_reducer.h"

#include "core/dispatch.h"
#include "core/error.h"

namespace gn::nn {

GradReducer::GradReducer(Communicator& comm, std::size_t bucket_bytes) : comm_(comm), bucket_bytes_(bucket_bytes) {
  GN_CHECK(bucket_bytes >= 1, "GradReducer: bucket size must be at least one byte");
}

// Buckets over the parameters in list order (reduce) or in reverse (overlapped: the order a backward finishes
// them in). Kept while the same parameters come back in the same mode.
void GradReducer::plan(std::span<const Tensor> params, bool reverse) {
  std::vector<const void*> key;
  for (const Tensor& p : params) key.push_back(p.raw_data());
  if (key == planned_for_ && reverse == planned_reverse_) return;
  buckets_.clear();
  slot_.assign(params.size(), {0, 0});
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::size_t k = reverse ? params.size() - 1 - i : i;
    const Tensor& p = params[k];
    const std::size_t size = static_cast<std::size_t>(p.numel()) * dtype_size(p.dtype());
    const bool fits = !buckets_.empty() && buckets_.back().flat.dtype() == p.dtype() &&
                      buckets_.back().flat.device() == p.device() && bytes + size <= bucket_bytes_;
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    slot_[k] = {buckets_.size() - 1, b.params.size()};
    b.offsets.push_back(static_cast<std::int64_t>(bytes / dtype_size(p.dtype())));
    b.params.push_back(k);
    bytes += size;
    b.flat = Tensor::empty({static_cast<std::int64_t>(bytes / dtype_size(p.dtype()))}, p.dtype(), p.device());
  }
  planned_for_ = std::move(key);
  planned_reverse_ = reverse;
}

// flat[offset_j, offset_j + n_j) = grad_j (scaled with the whole bucket when it starts).
void GradReducer::pack(std::size_t bucket, std::size_t j, const Tensor& grad) {
  Bucket& b = buckets_[bucket];
  b.flat.slice(b.offsets[j], b.offsets[j] + grad.numel()).copy_(grad.reshape({grad.numel()}));
}

void GradReducer::start(std::size_t bucket) {
  Bucket& b = buckets_[bucket];
  GN_DISPATCH_FLOAT(b.flat.dtype(), "gradient all-reduce", [&] {
    dispatch::scale<scalar_t>(b.flat.device(), b.flat.numel(), static_cast<scalar_t>(scale_), b.flat.data<scalar_t>());
  });
  handles_.push_back(comm_.start_all_reduce_sum(b.flat));
}

void GradReducer::unpack(std::size_t bucket, std::span<const Tensor> params) {
  const Bucket& b = buckets_[bucket];
  for (std::size_t j = 0; j < b.params.size(); ++j) {
    Tensor g = params[b.params[j]].grad();
    g.reshape({g.numel()}).copy_(b.flat.slice(b.offsets[j], b.offsets[j] + g.numel()));
  }
}

void GradReducer::reduce(std::span<const Tensor> params, double scale) {
  GN_CHECK(!active_, "GradReducer: reduce() while an overlapped reduction is in progress (begin() without finish())");
  for (const Tensor& p : params) {
    Tensor q = p;
    if (!q.grad().defined()) q.set_grad(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
  plan(params, /*reverse=*/false);
  scale_ = scale;
  handles_.clear();
  for (std::size_t k = 0; k < buckets_.size(); ++k) {
    for (std::size_t j = 0; j < buckets_[k].params.size(); ++j) pack(k, j, params[buckets_[k].params[j]].grad());
    start(k);  // while the next bucket is packed
  }
  for (std::size_t k = 0; k < buckets_.size(); ++k) {
    handles_[k].wait();
    unpack(k, params);
  }
  handles_.clear();
}

void GradReducer::begin(std::span<const Tensor> params, double scale) {
  handles_.clear();  // only after an exception left a reduction unfinished: its collectives are waited for
  params_.assign(params.begin(), params.end());
  plan(params_, /*reverse=*/true);
  scale_ = scale;
  marked_.assign(params_.size(), false);
  for (Bucket& b : buckets_) b.unpacked = b.params.size();
  next_start_ = 0;
  active_ = true;
}

void GradReducer::mark_ready(std::size_t k) {
  GN_CHECK(active_, "GradReducer: mark_ready({}) outside begin() ... finish()", k);
  GN_CHECK(k < params_.size(), "GradReducer: mark_ready({}) for a list of {} parameters", k, params_.size());
  GN_CHECK(!marked_[k],
           "GradReducer: parameter {} marked ready twice (its gradient may be in flight already: run one backward "
           "per overlapped reduction)",
           k);
  marked_[k] = true;
  Tensor p = params_[k];
  if (!p.grad().defined()) p.set_grad(Tensor::zeros(p.shape(), p.dtype(), p.device()));  // as reduce()
  const auto [bucket, j] = slot_[k];
  pack(bucket, j, p.grad());
  --buckets_[bucket].unpacked;
  // Strictly in bucket order on every rank: a bucket completed early waits for its predecessors.
  while (next_start_ < buckets_.size() && buckets_[next_start_].unpacked == 0) start(next_start_++);
  // Buckets in flight move on while the backward goes on (MPI progresses only inside MPI calls).
  for (std::size_t b = 0; b < next_start_; ++b) handles_[b].progress();
}

GradReadyHook GradReducer::hook() {
  GN_CHECK(active_, "GradReducer: hook() outside begin() ... finish()");
  return {params_, [this](std::size_t k) { mark_ready(k); }};
}

void GradReducer::finish() {
  GN_CHECK(active_, "GradReducer: finish() without begin()");
  for (std::size_t k = 0; k < params_.size(); ++k)
    if (!marked_[k]) mark_ready(k);
  for (std::size_t k = 0; k < buckets_.size(); ++k) {
    handles_[k].wait();
    unpack(k, params_);
  }
  handles_.clear();
  params_.clear();
  active_ = false;
}

}  // namespace gn::nn
