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
  std::string weight_param = "linear";      // GradNorm's --weight-param
  int world_size = 1;                       // data-parallel ranks (mpirun -np N)
  std::string norm_params = "weight+bias";  // GradNorm's --norm-params
};

// The files of DIR this app writes (and removes, from an earlier run, before writing a new set).
const std::vector<std::string>& output_names();  // metrics.csv, */summary.json, run.json, figure2.png
// Writes one output set (apps/common/writers.h OutputSet): first removes the earlier run's output_names()
// from DIR (nothing else), then DIR/metrics.csv and DIR/<method>/summary.json (with "run_id" and "status")
// for every result, each atomically, and DIR/run.json last (the run id and every file's size and checksum).
// A run id is made when none is given; returns it.
std::string write_outputs(const std::string& dir, const RunInfo& info, const std::vector<ToyRunResult>& results,
                          std::string run_id = "");
// The table printed at the end: method, test loss-ratio sum, final and mean weights, median step ms.
std::string result_table(const RunInfo& info, const std::vector<ToyRunResult>& results);

}  // namespace gn::toy
