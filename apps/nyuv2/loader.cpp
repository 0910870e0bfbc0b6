#include "apps/nyuv2/loader.h"

#include <bit>
#include <cstring>
#include <numeric>

#include "apps/common/parallel_for.h"
#include "core/error.h"
#include "core/rng.h"

namespace gn::nyuv2 {

namespace {

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Copies `sample` into row r of the (B, ...) tensor `out`.
void put_row(Tensor& out, std::int64_t r, const Tensor& sample) {
  const std::size_t bytes = sample.nbytes();
  std::memcpy(static_cast<unsigned char*>(out.raw_data()) + static_cast<std::size_t>(r) * bytes, sample.raw_data(),
              bytes);
}

Shape with_batch(std::int64_t B, const Shape& s) {
  Shape out{B};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// The samples as one batch: every tensor stacked along a new axis 0.
app::Batch stack(const std::vector<NyuSample>& samples) {
  const auto count = static_cast<std::int64_t>(samples.size());
  app::Batch b;
  b.x = Tensor::empty(with_batch(count, samples[0].image.shape()), DType::Float32);
  for (const Tensor& t : samples[0].targets)
    b.targets.push_back(Tensor::empty(with_batch(count, t.shape()), t.dtype()));
  for (std::int64_t r = 0; r < count; ++r) {
    const NyuSample& s = samples[static_cast<std::size_t>(r)];
    put_row(b.x, r, s.image);
    for (std::size_t i = 0; i < s.targets.size(); ++i) put_row(b.targets[i], r, s.targets[i]);
  }
  return b;
}

}  // namespace

NyuLoader::NyuLoader(std::shared_ptr<const NyuDataset> data, LoaderOptions options)
    : data_(std::move(data)), options_(options) {
  GN_CHECK(data_ != nullptr, "NyuLoader: no data set");
  GN_CHECK(options_.batch >= 1 && options_.batch <= data_->size(),
           "NyuLoader: batch size {} must be in [1, {}] (the number of samples in {})", options_.batch, data_->size(),
           data_->root().string());
  GN_CHECK(options_.prefetch >= 1 && options_.prefetch <= 64, "NyuLoader: prefetch {} must be in [1, 64]",
           options_.prefetch);
  GN_CHECK(options_.threads >= 1 && options_.threads <= 256, "NyuLoader: threads {} must be in [1, 256]",
           options_.threads);
  GN_CHECK(options_.world >= 1 && options_.rank >= 0 && options_.rank < options_.world,
           "NyuLoader: rank {} is not in a world of {}", options_.rank, options_.world);
  GN_CHECK(options_.world == 1 || (options_.drop_last && options_.batch >= options_.world),
           "NyuLoader: a batch of {} split over {} ranks needs batch >= ranks and drop_last (every rank gets rows)",
           options_.batch, options_.world);
  start(1, 0);
}

NyuLoader::~NyuLoader() { stop(); }

std::int64_t NyuLoader::batches_per_epoch() const {
  const std::int64_t N = data_->size(), B = options_.batch;
  return options_.drop_last ? N / B : (N + B - 1) / B;
}

std::vector<std::int64_t> NyuLoader::epoch_order(std::int64_t e) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(data_->size()));
  std::iota(order.begin(), order.end(), 0);
  if (!options_.shuffle) return order;
  Generator g(mix(options_.seed, static_cast<std::uint64_t>(e)));
  for (std::size_t k = order.size() - 1; k > 0; --k) std::swap(order[k], order[g.next_u64() % (k + 1)]);
  return order;
}

AugmentParams NyuLoader::augment_params(std::int64_t e, std::int64_t k) const {
  if (!options_.augment) {
    return AugmentParams{1.0, 0, 0, data_->height(), data_->width(), false};
  }
  return draw_augment(
      data_->height(), data_->width(),
      mix(mix(options_.seed ^ 0x61756721ULL, static_cast<std::uint64_t>(e)), static_cast<std::uint64_t>(k)));
}

app::Batch NyuLoader::assemble(std::int64_t e, const std::vector<std::int64_t>& order, std::int64_t first,
                               std::int64_t count) const {
  std::vector<NyuSample> samples(static_cast<std::size_t>(count));
  // With threads = 1 (what training uses) no OpenMP team is made on this prefetching thread: a second team
  // beside the training thread's stops libgomp's spinning (benchmarks/RESULTS.md).
  app::parallel_for_items(count, options_.threads, [&](std::int64_t r) {
    const std::int64_t k = order[static_cast<std::size_t>(first + r)];
    samples[static_cast<std::size_t>(r)] = data_->load(k, augment_params(e, k));
  });
  return stack(samples);
}

void NyuLoader::run(std::int64_t e, std::int64_t cursor) {
  try {
    const std::int64_t nb = batches_per_epoch(), N = data_->size(), B = options_.batch;
    std::vector<std::int64_t> order = epoch_order(e);
    while (true) {
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || static_cast<int>(queue_.size()) < options_.prefetch; });
        if (stopping_) return;
      }
      if (cursor == nb) {
        ++e;
        cursor = 0;
        order = epoch_order(e);
      }
      const std::int64_t first = cursor * B, count = std::min(B, N - first);
      const auto [begin, end] = app::shard_range(count, options_.rank, options_.world);  // all rows alone
      Item item{assemble(e, order, first + begin, end - begin), e};
      ++cursor;
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(item));
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    error_ = std::current_exception();
    changed_.notify_all();
  }
}

void NyuLoader::start(std::int64_t epoch, std::int64_t cursor) {
  stopping_ = false;
  queue_.clear();
  error_ = nullptr;
  thread_ = std::thread([this, epoch, cursor] { run(epoch, cursor); });
}

void NyuLoader::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

app::Batch NyuLoader::next() {
  Item item;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !queue_.empty() || error_ != nullptr; });
    if (queue_.empty()) std::rethrow_exception(error_);
    item = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
  }
  if (item.epoch != epoch_) {
    epoch_ = item.epoch;
    cursor_ = 0;
  }
  ++cursor_;
  app::Batch& b = item.batch;
  if (options_.device != cpu_device()) {
    b.x = b.x.to(options_.device);
    for (Tensor& t : b.targets) t = t.to(options_.device);
  }
  return std::move(b);
}

nn::StateDict NyuLoader::state_dict() const {
  return {{"seed", nn::state_count(std::bit_cast<std::int64_t>(options_.seed))},
          {"epoch", nn::state_count(epoch_)},
          {"cursor", nn::state_count(cursor_)}};
}

void NyuLoader::load_state_dict(const nn::StateDict& state) {
  const nn::StateDict expected{
      {"seed", nn::state_count(0)}, {"epoch", nn::state_count(0)}, {"cursor", nn::state_count(0)}};
  const nn::StateMatch m = nn::match_state(state, expected, "NyuLoader");
  const auto seed = std::bit_cast<std::uint64_t>(nn::read_count(m.sources[0]));
  const std::int64_t epoch = nn::read_count(m.sources[1]), cursor = nn::read_count(m.sources[2]);
  GN_CHECK(seed == options_.seed, "NyuLoader: load_state_dict: the state was saved with seed {}, this loader's is {}",
           seed, options_.seed);
  GN_CHECK(epoch >= 0, "NyuLoader: load_state_dict: 'epoch' is {}, must be >= 0", epoch);
  GN_CHECK(epoch == 0 ? cursor == 0 : cursor >= 1 && cursor <= batches_per_epoch(),
           "NyuLoader: load_state_dict: 'cursor' {} is not in [1, {}] (epoch {})", cursor, batches_per_epoch(), epoch);
  stop();
  epoch_ = epoch;
  cursor_ = cursor;
  if (epoch == 0) {
    start(1, 0);
  } else if (cursor == batches_per_epoch()) {
    start(epoch + 1, 0);
  } else {
    start(epoch, cursor);
  }
}

app::Dataset load_all(const NyuDataset& data, Device device) {
  std::vector<NyuSample> samples;
  samples.reserve(static_cast<std::size_t>(data.size()));
  for (std::int64_t k = 0; k < data.size(); ++k) samples.push_back(data.load(k));
  const app::Batch b = stack(samples);
  return app::Dataset{b.x, b.targets}.to(device);
}

}  // namespace gn::nyuv2
