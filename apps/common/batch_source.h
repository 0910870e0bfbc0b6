#pragma once
// Where training batches come from. The trainer asks a BatchSource for the next batch and nothing else, so
// an app chooses how its data arrives: all of it in device memory and shuffled there each epoch
// (ShuffledSource, shuffled_source.h), or images streamed from disk by a prefetch thread (a later
// implementation of the same interface).
#include <cstdint>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict.h"

namespace gn::app {

// One batch: the inputs and, per task i, what task i's loss expects, on the model's device.
struct Batch {
  Tensor x;                     // (B, ...)
  std::vector<Tensor> targets;  // T tensors (B, ...)
};

// N samples held as tensors: x (N, ...) and one (N, ...) tensor per task, row k of each belonging to sample k.
struct Dataset {
  Tensor x;
  std::vector<Tensor> targets;

  std::int64_t size() const { return x.shape()[0]; }
  int num_tasks() const { return static_cast<int>(targets.size()); }
  // The same samples on `device` (copies; the same tensors when already there).
  Dataset to(Device device) const;
  // Samples [begin, end): views, no copy.
  Batch slice(std::int64_t begin, std::int64_t end) const;
  // Throws unless x and every target are defined, have the same number of rows and x has at least one.
  void check(const char* what) const;
};

// Rank r's rows of a global batch of B rows split over `world` ranks: [begin, end), contiguous, in rank
// order, the first B % world ranks one row more. The trainer and the sources that read only their rank's
// rows use this one split, so both give the same rows.
std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t batch, int rank, int world);

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The next training batch; epochs roll over by themselves. A batch may share memory with the source
  // and stays valid until the next call at least.
  virtual Batch next() = 0;
  // The rows of every global batch that next() delivers: {0, 1} (the default) all of them, and a
  // data-parallel trainer keeps its rank's slice; {rank, world}: only that rank's shard_range of each
  // global batch, read by the source itself (so N ranks do not each read the whole batch).
  virtual std::pair<int, int> shard() const { return {0, 1}; }
  // The GLOBAL batch size, whatever shard() says.
  virtual std::int64_t batch_size() const = 0;
  // Samples per epoch.
  virtual std::int64_t epoch_size() const = 0;
  // Epochs begun so far (0 before the first next()).
  virtual std::int64_t epoch() const = 0;

  // Where the stream is, for checkpoints: a source given another's state_dict() continues with the same
  // batches. Loading checks everything before changing anything. The defaults throw: a source that cannot
  // say where it is cannot be checkpointed (the trainer asks only when checkpoints are on).
  virtual nn::StateDict state_dict() const;
  virtual void load_state_dict(const nn::StateDict& state);
};

}  // namespace gn::app
