#include "apps/common/shuffled_source.h"

#include <numeric>
#include <utility>

#include "core/dispatch.h"
#include "core/error.h"

namespace gn::app {

ShuffledSource::ShuffledSource(Dataset data, std::int64_t batch, std::uint64_t seed)
    : data_(std::move(data)), batch_(batch), gen_(seed) {
  data_.check("ShuffledSource");
  const std::int64_t N = data_.size();
  GN_CHECK(batch >= 1 && batch <= N, "ShuffledSource: batch size {} must be in [1, {}] (the dataset size)", batch, N);
  order_.resize(static_cast<std::size_t>(N));
  std::iota(order_.begin(), order_.end(), 0);
  cursor_ = N;  // forces a shuffle before the first batch
}

void ShuffledSource::reshuffle() {
  const std::int64_t N = data_.size();
  for (std::int64_t k = N - 1; k > 0; --k) std::swap(order_[k], order_[gen_.next_u64() % (k + 1)]);
  const Tensor index = Tensor::from_labels(order_, {N}, data_.x.device());
  auto gather = [&](const Tensor& from, Tensor& to) {
    if (!to.defined()) to = Tensor::empty(from.shape(), from.dtype(), from.device());
    dispatch::gather_rows(from.device(), N, from.numel() / N, dtype_size(from.dtype()), from.raw_data(),
                          index.data<std::int64_t>(), to.raw_data());
  };
  gather(data_.x, shuffled_.x);
  shuffled_.targets.resize(data_.targets.size());
  for (std::size_t i = 0; i < data_.targets.size(); ++i) gather(data_.targets[i], shuffled_.targets[i]);
  cursor_ = 0;
  ++epoch_;
}

Batch ShuffledSource::next() {
  if (cursor_ + batch_ > data_.size()) reshuffle();
  Batch b = shuffled_.slice(cursor_, cursor_ + batch_);
  cursor_ += batch_;
  return b;
}

}  // namespace gn::app
