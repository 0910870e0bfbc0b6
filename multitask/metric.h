#pragma once
// Evaluation metrics, accumulated over a whole evaluation set (never an average of per-batch averages):
// reset(), add() every batch, then values(). One accumulator may report several numbers (mIoU and pixel
// accuracy come from one confusion matrix), so a metric is a family of named values.
//
// The accumulators contract (data-parallel evaluation): accumulators() is the running state as float64
// numbers that ADD elementwise across shards. If the set is split into shards, each evaluated by its own
// metric from reset(), then set_accumulators(elementwise sum of every shard's accumulators()) on any one of
// them gives the values() of one pass over the whole set. So a metric keeps sums and counts (and
// histograms), never means, medians or maxima, in its accumulators.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace gn::multitask {

struct MetricValue {
  std::string name;  // "mse", "miou", "rmse", ...
  double value = 0;
  bool higher_is_better = false;
};

class Metric {
 public:
  virtual ~Metric() = default;
  virtual std::string name() const = 0;  // the family: "mse", "segmentation", "depth", ...
  virtual void reset() = 0;
  virtual void add(const Tensor& pred, const Tensor& target) = 0;  // one batch
  // Every value over every batch since reset(), in a fixed order; throws if nothing was added (or, for the
  // dense metrics, if nothing valid was: a mean over no pixel is not a number).
  virtual std::vector<MetricValue> values() const = 0;
  // The running state as float64 numbers that add elementwise across shards (see above); a fixed length
  // for a given metric configuration.
  virtual std::vector<double> accumulators() const = 0;
  // Replaces the running state; `acc` must have the length accumulators() returns.
  virtual void set_accumulators(std::span<const double> acc) = 0;
};

// Throws (naming `metric`) unless `acc` has `expected` numbers: the shared check of set_accumulators.
void check_accumulator_size(std::span<const double> acc, std::size_t expected, const std::string& metric);

// The mean squared error over every element seen: sum of squares / count, in double.
// Values: "mse" (lower is better). Accumulators: {sum of squares, count}.
class MseMetric : public Metric {
 public:
  std::string name() const override { return "mse"; }
  void reset() override;
  void add(const Tensor& pred, const Tensor& target) override;
  std::vector<MetricValue> values() const override;  // throws if nothing was added
  std::vector<double> accumulators() const override { return {sum_, count_}; }
  void set_accumulators(std::span<const double> acc) override;

 private:
  double sum_ = 0;
  double count_ = 0;  // an integer count, kept as a double for the accumulators (exact below 2^53)
};

}  // namespace gn::multitask
