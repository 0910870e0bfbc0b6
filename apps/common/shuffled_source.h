#pragma once
// Batches from a dataset held in memory on the model's device, reshuffled there every epoch: a seeded
// Fisher-Yates permutation on the host, one gather per tensor on the device, then every batch is a
// contiguous slice of the shuffled copy: no per-step copy and no per-step host transfer.
#include <cstdint>
#include <vector>

#include "apps/common/batch_source.h"
#include "core/rng.h"

namespace gn::app {

class ShuffledSource : public BatchSource {
 public:
  // `data` stays where it is (move it to the model's device first); 1 <= batch <= data.size(). The same
  // seed gives the same order on every run and device.
  ShuffledSource(Dataset data, std::int64_t batch, std::uint64_t seed);

  // Rows [k*B, (k+1)*B) of this epoch's shuffled copy. A new epoch begins when fewer than B samples are
  // left (the tail of the epoch is skipped); it overwrites the shuffled copy, so a batch is valid until then.
  Batch next() override;
  std::int64_t batch_size() const override { return batch_; }
  std::int64_t epoch_size() const override { return data_.size(); }
  std::int64_t epoch() const override { return epoch_; }
  // This epoch's order: position k of the shuffled copy holds sample order()[k] (host copy).
  const std::vector<std::int64_t>& order() const { return order_; }

  // "generator" ((6) int64: the generator's 4 words, has_spare, the spare's bits), "order" ((N) int64),
  // "cursor" and "epoch" (0-d int64). Loading checks that order is a permutation of the N samples, that the
  // cursor is in [0, N] (N before the first epoch) and the generator state is valid, then rebuilds the
  // epoch's shuffled copy from the order (no draw from the generator).
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& state) override;

 private:
  void reshuffle();
  void gather();  // shuffled_ = data_ permuted by order_

  Dataset data_;      // as given
  Dataset shuffled_;  // the epoch's permutation of data_, same device
  std::int64_t batch_;
  Generator gen_;
  std::vector<std::int64_t> order_;  // each epoch permutes the previous epoch's order
  std::int64_t cursor_;
  std::int64_t epoch_ = 0;
};

}  // namespace gn::app
