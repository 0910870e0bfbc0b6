#include "apps/common/shuffled_source.h"

#include <bit>
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
  gather();
  cursor_ = 0;
  ++epoch_;
}

void ShuffledSource::gather() {
  const std::int64_t N = data_.size();
  const Tensor index = Tensor::from_labels(order_, {N}, data_.x.device());
  auto gather = [&](const Tensor& from, Tensor& to) {
    if (!to.defined()) to = Tensor::empty(from.shape(), from.dtype(), from.device());
    dispatch::gather_rows(from.device(), N, from.numel() / N, dtype_size(from.dtype()), from.raw_data(),
                          index.data<std::int64_t>(), to.raw_data());
  };
  gather(data_.x, shuffled_.x);
  shuffled_.targets.resize(data_.targets.size());
  for (std::size_t i = 0; i < data_.targets.size(); ++i) gather(data_.targets[i], shuffled_.targets[i]);
}

nn::StateDict ShuffledSource::state_dict() const {
  const Generator::State g = gen_.state();
  std::vector<std::int64_t> words;
  for (std::uint64_t w : g.words) words.push_back(std::bit_cast<std::int64_t>(w));
  words.push_back(g.has_spare ? 1 : 0);
  words.push_back(std::bit_cast<std::int64_t>(g.spare));
  const auto N = static_cast<std::int64_t>(order_.size());
  return {{"generator", Tensor::from_labels(words, {6})},
          {"order", Tensor::from_labels(order_, {N})},
          {"cursor", nn::state_count(cursor_)},
          {"epoch", nn::state_count(epoch_)}};
}

void ShuffledSource::load_state_dict(const nn::StateDict& state) {
  const std::int64_t N = data_.size();
  const nn::StateDict expected{{"generator", Tensor::zeros({6}, DType::Int64)},
                               {"order", Tensor::zeros({N}, DType::Int64)},
                               {"cursor", nn::state_count(0)},
                               {"epoch", nn::state_count(0)}};
  const nn::StateMatch m = nn::match_state(state, expected, "ShuffledSource");
  const Tensor g = m.sources[0].to(cpu_device()), o = m.sources[1].to(cpu_device());
  const std::int64_t* gw = g.data<std::int64_t>();
  Generator::State gs;
  for (int k = 0; k < 4; ++k) gs.words[k] = std::bit_cast<std::uint64_t>(gw[k]);
  const bool all_zero = gs.words == decltype(gs.words){};
  GN_CHECK(!all_zero, "ShuffledSource: load_state_dict: the generator state is all zeros");
  GN_CHECK(gw[4] == 0 || gw[4] == 1, "ShuffledSource: load_state_dict: generator has_spare is {}, not 0 or 1", gw[4]);
  gs.has_spare = gw[4] == 1;
  gs.spare = std::bit_cast<double>(gw[5]);
  std::vector<std::int64_t> order(o.data<std::int64_t>(), o.data<std::int64_t>() + N);
  std::vector<bool> seen(static_cast<std::size_t>(N), false);
  for (std::int64_t v : order) {
    GN_CHECK(v >= 0 && v < N && !seen[static_cast<std::size_t>(v)],
             "ShuffledSource: load_state_dict: 'order' is not a permutation of the {} samples ({} out of range or "
             "repeated)",
             N, v);
    seen[static_cast<std::size_t>(v)] = true;
  }
  const std::int64_t cursor = nn::read_count(m.sources[2]), epoch = nn::read_count(m.sources[3]);
  GN_CHECK(cursor >= 0 && cursor <= N, "ShuffledSource: load_state_dict: 'cursor' {} is not in [0, {}]", cursor, N);
  GN_CHECK(epoch >= 0, "ShuffledSource: load_state_dict: 'epoch' is {}, must be >= 0", epoch);
  GN_CHECK(epoch > 0 || cursor == N,
           "ShuffledSource: load_state_dict: 'cursor' {} before the first epoch (expected {})", cursor, N);
  gen_.set_state(gs);
  order_ = std::move(order);
  cursor_ = cursor;
  epoch_ = epoch;
  if (epoch_ > 0) gather();
}

Batch ShuffledSource::next() {
  if (cursor_ + batch_ > data_.size()) reshuffle();
  Batch b = shuffled_.slice(cursor_, cursor_ + batch_);
  cursor_ += batch_;
  return b;
}

}  // namespace gn::app
