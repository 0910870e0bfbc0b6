#pragma once
// NyuLoader: batches of an NyuDataset streamed from disk by a prefetching thread, as an app::BatchSource
// (what the shared trainer pulls from). Under data parallelism each rank's loader reads only its rank's
// rows of every global batch (options.rank, options.world), the same rows the trainer would slice. While the caller
// trains on batch k, the thread reads, augments and stacks batch k+1 (and k+2: a bounded queue of `prefetch` batches),
// so only those batches are in memory, never the whole set.
//
// Order: epoch e (1, 2, ...) visits the samples in a permutation that depends only on (seed, e) (or in
// order without shuffle); batch j of the epoch holds positions [j*B, (j+1)*B) of it. With drop_last the
// tail of an epoch (fewer than B samples) is skipped, as ShuffledSource does; without it the last batch is
// smaller. A sample's augmentation is seeded by (seed, epoch, sample), so the same seed gives the same
// batches whatever the thread timing.
//
// Errors: an exception in the thread (a missing or corrupt file, a shape mismatch) is stored and re-thrown
// by the next() that would have returned that batch, with its message (and again on every later next()).
// The destructor stops and joins the thread.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "apps/common/batch_source.h"
#include "apps/nyuv2/dataset.h"

namespace gn::nyuv2 {

struct LoaderOptions {
  std::int64_t batch = 8;
  std::uint64_t seed = 0;
  bool shuffle = true;           // false: positions in order (evaluation)
  bool augment = false;          // LibMTL's scale-crop and flip (augment.h)
  bool drop_last = true;         // false: an epoch ends with the smaller remainder batch (evaluation)
  int prefetch = 2;              // batches queued ahead (>= 1)
  int threads = 1;               // OpenMP threads reading one batch's samples (the order never depends on it)
  int rank = 0, world = 1;       // data parallel: read only rank's rows of each global batch (app::shard_range)
  Device device = cpu_device();  // where next() delivers the batches
};

class NyuLoader : public app::BatchSource {
 public:
  // 1 <= batch <= data.size().
  NyuLoader(std::shared_ptr<const NyuDataset> data, LoaderOptions options);
  ~NyuLoader() override;
  NyuLoader(const NyuLoader&) = delete;
  NyuLoader& operator=(const NyuLoader&) = delete;

  // x: images (B, 3, H, W) float32; targets in the data set's task order: labels (B, H, W) int64, depth
  // (B, 1, H, W), normals (B, 3, H, W), heatmaps (B, K, H, W) float32; on options.device.
  app::Batch next() override;
  std::pair<int, int> shard() const override { return {options_.rank, options_.world}; }
  std::int64_t batch_size() const override { return options_.batch; }  // the global batch
  std::int64_t epoch_size() const override { return data_->size(); }
  std::int64_t epoch() const override { return epoch_; }
  std::int64_t batches_per_epoch() const;
  // The sample positions of epoch e >= 1, in visiting order (a pure function of seed and e).
  std::vector<std::int64_t> epoch_order(std::int64_t e) const;
  // The augmentation of sample k in epoch e (identity without augment).
  AugmentParams augment_params(std::int64_t e, std::int64_t k) const;

  // "seed" (the options' seed, checked on load), "epoch" and "cursor" (batches of that epoch returned): a
  // loader given another's state continues with the same batches (the thread restarts there).
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& state) override;

 private:
  struct Item {
    app::Batch batch;
    std::int64_t epoch;
  };
  void start(std::int64_t epoch, std::int64_t cursor);  // the thread produces from batch `cursor` of `epoch`
  void stop();
  void run(std::int64_t epoch, std::int64_t cursor);
  app::Batch assemble(std::int64_t epoch, const std::vector<std::int64_t>& order, std::int64_t first,
                      std::int64_t count) const;

  std::shared_ptr<const NyuDataset> data_;
  LoaderOptions options_;
  std::int64_t epoch_ = 0;   // consumer: the epoch of the last batch returned
  std::int64_t cursor_ = 0;  // consumer: batches of epoch_ returned

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
  std::thread thread_;
};

// The whole split in memory, in order, unaugmented (for app::Evaluator on small sets); on `device`.
app::Dataset load_all(const NyuDataset& data, Device device = cpu_device());

}  // namespace gn::nyuv2
