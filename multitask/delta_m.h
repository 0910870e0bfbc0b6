#pragma once
// Delta_m (Maninis et al., CVPR 2019): the mean relative improvement of a multitask model over a baseline
// (usually the single-task models), in percent; positive means the multitask model is better.
#include <vector>

#include "multitask/metric.h"

namespace gn::multitask {

// delta_m = 100 / M * sum_m (-1)^{higher_is_better_m} (B_m - N_m) / B_m over the M metrics, with B the
// baseline's value and N the result's: a lower-is-better metric improves when N < B, a higher-is-better one
// when N > B. Metrics are matched by name (the order may differ). The mean is flat over every metric, as
// Maninis et al.; LibMTL's count_improvement averages the metrics of each task first, then the tasks (call
// this per task and average for that). Throws on an empty list, names that do not match one to one
// (duplicates included), a zero or non-finite baseline, a non-finite result, or a metric whose direction
// differs between the two.
double delta_m(const std::vector<MetricValue>& baseline, const std::vector<MetricValue>& result);

}  // namespace gn::multitask
