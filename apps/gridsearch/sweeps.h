#pragma once
// The paper's sweeps, driving any app that follows the sweep protocol (apps/gridsearch/README.md): the
// app takes --methods, --static-weights, --alpha, --seed, --out and --quiet, and writes
// OUT/<method>/summary.json with "status", "mean_weights", "final_weights", per-task errors (lower is
// better: "task_errors", or the toy's "final_test_losses") and a score (lower is better: "score", or the
// toy's "test_loss_ratio_sum"), and OUT/metrics.csv with the weights w_0 .. w_{T-1} per logged step.
//   grid   Section 5.3, Fig. 4: N networks with random static weights (uniform, renormalised to sum T) and
//          one GradNorm network, from the same data and initial network; each static network's average
//          per-task change against GradNorm vs the L2 distance of its weights to GradNorm's E_t[w_i(t)]
//   alpha  Section 5.4, Fig. 5: GradNorm at each alpha, and equal weighting as the baseline
//   seeds  every listed method at every seed: mean and standard deviation, paired wins
// Every run is a child process (at most --jobs at once) in its own folder; a sweep's settings are in
// OUT/sweep.json, written first, and --resume continues a sweep with the same settings, skipping the runs
// that finished.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace gn::sweep {

struct SweepOptions {
  std::filesystem::path out;
  int jobs = 1;
  bool resume = false;
  std::vector<std::string> command;  // the app and the arguments every run shares
};

struct GridOptions {
  SweepOptions sweep;
  std::int64_t networks = 100;
  std::uint64_t seed = 1;  // of the random static weights
};

struct AlphaOptions {
  SweepOptions sweep;
  std::vector<double> alphas{0, 0.06, 0.12, 0.25, 0.5, 1, 1.5, 2, 3};
};

struct SeedsOptions {
  SweepOptions sweep;
  std::vector<std::uint64_t> seeds{1, 2, 3, 4, 5};
  std::vector<std::string> methods{"equal", "gradnorm", "uncertainty"};
};

// Each returns the process exit status: 0 when every run finished, 1 when some failed (the results of
// the others are still aggregated and written). Bad settings throw gn::Error before any run starts.
int run_grid(const GridOptions& options);
int run_alpha(const AlphaOptions& options);
int run_seeds(const SeedsOptions& options);

}  // namespace gn::sweep
