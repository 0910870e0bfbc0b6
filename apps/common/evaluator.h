#pragma once
// Per-task metrics of a multitask model over a whole evaluation set. Each task is judged by the metrics it
// lists (multitask::Task::metrics), or by the mean squared error (multitask::MseMetric) when it lists none.
// Every metric is accumulated over all batches (reset, add per batch, values), never averaged per batch.
//
// Data parallel (a communicator of N > 1 ranks): rank r forwards only its contiguous shard of the set
// (samples [off_r, off_r + len_r), the split of apps/common/trainer.h), then one all-reduce sums every
// metric's accumulators (float64 sums and counts, multitask/metric.h) and each rank sets the sums back, so
// every rank reports the metrics of the whole set (every rank: hooks that act on them, e.g. a divergence
// check, then act alike). The sums differ from one pass's only in float64 addition order (the shards'
// partial sums added in rank order), and not at all when every shard starts on a multiple of the batch.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/batch_source.h"
#include "core/communicator.h"
#include "multitask/metric.h"
#include "multitask/model.h"

namespace gn::app {

// A metric may report several values (multitask::Metric::values); they are flattened here, in the order
// of the task's metrics and then of each metric's values.
struct TaskScores {
  std::string task;
  std::vector<std::string> metrics;    // value names ("mse", "miou", "pixel_acc", ...)
  std::vector<double> values;          // their values over the evaluation set
  std::vector<bool> higher_is_better;  // the direction of each value
  // The same, as MetricValues (what multitask::delta_m compares).
  std::vector<multitask::MetricValue> metric_values() const;
};

struct EvalResult {
  std::vector<TaskScores> tasks;  // one per task, in the model's order
  // The first value of every task (of its first metric; for a task without metrics: its mean squared error).
  std::vector<double> first() const;
};

class Evaluator {
 public:
  // `data` should be on the model's device; batch <= 0: the whole set (or shard) in one forward. comm
  // (borrowed, may be null): shard the set over its ranks (above); every rank must call evaluate() together.
  Evaluator(multitask::MultitaskModel& model, Dataset data, std::int64_t batch = 0, Communicator* comm = nullptr);

  // Forwards the set in contiguous batches in order, with no autograd graph and the model in evaluation
  // mode (its training mode is restored afterwards), and reads every metric back (a host read).
  EvalResult evaluate();
  const Dataset& data() const { return data_; }

 private:
  multitask::MultitaskModel& model_;
  Dataset data_;
  std::int64_t batch_;
  Communicator* comm_;
  void sum_over_ranks();  // every metric's accumulators, summed over the ranks and set back
  std::vector<std::vector<std::shared_ptr<multitask::Metric>>> metrics_;  // per task
};

}  // namespace gn::app
