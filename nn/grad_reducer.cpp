#include "nn/grad_reducer.h"

#include "core/dispatch.h"
#include "core/error.h"

namespace gn::nn {

GradReducer::GradReducer(Communicator& comm, std::size_t bucket_bytes) : comm_(comm), bucket_bytes_(bucket_bytes) {
  GN_CHECK(bucket_bytes >= 1, "GradReducer: bucket size must be at least one byte");
}

void GradReducer::plan(std::span<const Tensor> params) {
  std::vector<const void*> key;
  for (const Tensor& p : params) key.push_back(p.raw_data());
  if (key == planned_for_) return;
  buckets_.clear();
  std::size_t bytes = 0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const Tensor& p = params[k];
    const std::size_t size = static_cast<std::size_t>(p.numel()) * dtype_size(p.dtype());
    const bool fits = !buckets_.empty() && buckets_.back().flat.dtype() == p.dtype() &&
                      buckets_.back().flat.device() == p.device() && bytes + size <= bucket_bytes_;
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    b.offsets.push_back(static_cast<std::int64_t>(bytes / dtype_size(p.dtype())));
    b.params.push_back(k);
    bytes += size;
    b.flat = Tensor::empty({static_cast<std::int64_t>(bytes / dtype_size(p.dtype()))}, p.dtype(), p.device());
  }
  planned_for_ = std::move(key);
}

void GradReducer::reduce(std::span<const Tensor> params, double scale) {
  for (const Tensor& p : params) {
    Tensor q = p;
    if (!q.grad().defined()) q.set_grad(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
  plan(params);
  std::vector<CommHandle> handles;
  handles.reserve(buckets_.size());
  for (Bucket& b : buckets_) {
    // Pack: flat[offset_j, offset_j + n_j) = scale * grad_j.
    for (std::size_t j = 0; j < b.params.size(); ++j) {
      const Tensor g = params[b.params[j]].grad();
      b.flat.slice(b.offsets[j], b.offsets[j] + g.numel()).copy_(g.reshape({g.numel()}));
    }
    GN_DISPATCH_FLOAT(b.flat.dtype(), "gradient all-reduce", [&] {
      dispatch::scale<scalar_t>(b.flat.device(), b.flat.numel(), static_cast<scalar_t>(scale), b.flat.data<scalar_t>());
    });
    handles.push_back(comm_.start_all_reduce_sum(b.flat));
  }
  for (std::size_t k = 0; k < buckets_.size(); ++k) {
    handles[k].wait();
    const Bucket& b = buckets_[k];
    for (std::size_t j = 0; j < b.params.size(); ++j) {
      Tensor g = params[b.params[j]].grad();
      g.reshape({g.numel()}).copy_(b.flat.slice(b.offsets[j], b.offsets[j] + g.numel()));
    }
  }
}

}  // namespace gn::nn
