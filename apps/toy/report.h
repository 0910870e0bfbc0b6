#pragma once
// What a toy comparison writes: metrics.csv (all methods), <method>/summary.json, and the result table.
#include <string>
#include <vector>

#include "apps/toy/experiment.h"

namespace gn::toy {

struct RunInfo {  // the settings every summary.json repeats
  int tasks;
  std::vector<double> sigmas;
  double alpha;
  std::int64_t steps;
  std::uint64_t seed;
  std::string device;
  int threads;
};

// Writes DIR/metrics.csv and DIR/<method>/summary.json for every result, each atomically (apps/common/writers.h).
void write_outputs(const std::string& dir, const RunInfo& info, const std::vector<ToyRunResult>& results);
// The table printed at the end: method, test loss-ratio sum, final and mean weights, median step ms.
std::string result_table(const RunInfo& info, const std::vector<ToyRunResult>& results);

}  // namespace gn::toy
