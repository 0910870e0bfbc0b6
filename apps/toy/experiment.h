#pragma once
// One toy training run with one loss-weighting method, and what it measured.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apps/toy/toy_data.h"
#include "core/communicator.h"
#include "multitask/model.h"
#include "multitask/strategies.h"
#include "nn/safetensors.h"

namespace gn::toy {

struct ToyRunConfig {
  std::string method = "gradnorm";
  std::int64_t steps = 4000;
  std::int64_t batch = 100;
  std::string optimizer = "adam";  // network optimizer: adam or sgd (momentum 0.9)
  double lr = 1e-3;
  std::int64_t lr_decay_steps = 0;  // 0: constant lr; else x lr_decay every this many steps
  double lr_decay = 0.2;
  std::int64_t hidden = 100;
  std::uint64_t init_seed = 1;   // network initialisation: the same for every method
  std::uint64_t batch_seed = 2;  // batch order: the same for every method
  std::int64_t log_every = 50;
  int trace = 0;                 // print the GradNorm internals of the first `trace` steps
  Device device = cpu_device();  // where the network, the data and the step live
  multitask::WeightingConfig weighting;
  // Checkpoints (apps/common/checkpoint.h): every checkpoint_every steps (0: never) and after the last, into
  // checkpoint_dir (<out>/<method>/checkpoints in the app), the latest checkpoint_keep kept. Each holds the
  // whole training state and the metrics rows so far, so a resumed run's rows, weights and parameters are
  // bitwise those of an uninterrupted one. resume: continue from resume_from, or when that is empty from the
  // latest checkpoint in checkpoint_dir (a fresh start when there is none).
  std::int64_t checkpoint_every = 0;
  std::string checkpoint_dir;
  int checkpoint_keep = 3;
  bool resume = false;
  std::string resume_from;
  nn::Metadata checkpoint_metadata;  // beside "method" (added here): must match on resume
  // Data parallel (docs/data-parallel.md): the ranks' communicator (borrowed; null: one process), `batch`
  // staying the global batch (each rank trains on its slice), and the gradient bucket size in MiB.
  Communicator* comm = nullptr;
  double bucket_mb = 25;
  // Called after every step (once any checkpoint of that step is written): tests throw here to simulate a
  // crash.
  std::function<void(std::int64_t done)> after_step;
};

struct MetricRow {
  std::int64_t step;
  double test_loss_ratio_sum;
  std::vector<double> weights, train_losses, test_losses, grad_norms;
  double floor_hits = NAN;  // GradNorm's weight-floor hits so far (the diagnostic floor_hits); NaN: none
};

struct ToyRunResult {
  std::string method;
  std::vector<MetricRow> rows;
  std::vector<double> initial_test_losses;          // L_i(0) of the test metric: the untrained network's test losses
  std::vector<double> final_weights, mean_weights;  // w at the end; E_t[w_i(t)] over all steps
  std::vector<double> final_test_losses;
  double test_loss_ratio_sum = 0;  // sum_i L_i^test(end) / L_i^test(0)
  double step_ms_median = 0;
  // GradNorm: how many times (updates x tasks) the linear parameterisation's weight floor fired, over the
  // whole run (resumed runs included: the count is checkpointed); -1 for methods without a floor.
  std::int64_t floor_hits = -1;
  std::int64_t start_step = 0;           // 0, or the step of the checkpoint this run resumed from
  bool stopped = false;                  // SIGINT/SIGTERM stopped it (after writing a checkpoint when they are on)
  std::string last_checkpoint;           // the last checkpoint written, if any
  std::vector<double> final_parameters;  // every parameter of the final model, flattened (tests compare them)
  int world_size = 1;                    // ranks that trained it (each on its slice of every batch)
  double comm_ms_median = 0;             // median wall time per step in the step's collectives (0 alone)
  bool replicas_identical = false;       // world_size > 1: every rank ended with rank 0's bits (checked)
  // Empty when the run finished; else why it did not: the TrainingDiverged message ("training diverged at
  // step 17: task 1 ('task1') loss L_1 is inf"), or "not run: ...". A diverged run keeps its metrics rows
  // from before the divergence only (never a non-finite number) and leaves the final_* fields empty.
  std::string failed;
  std::int64_t diverged_step = -1;  // the 0-based step that diverged, when known
};

// The paper's toy network: 4 ReLU-activated trunk layers of width `hidden` (the 4th is W, the last shared
// layer) and per task a ReLU and one affine head. Same seed, same initial network.
std::shared_ptr<multitask::MultitaskModel> make_toy_model(std::int64_t in, std::int64_t hidden, std::int64_t out,
                                                          int tasks, std::uint64_t seed, Device device = cpu_device());

// progress(done_steps, total_steps) is called now and then. A run that diverges (multitask::TrainingDiverged:
// a non-finite loss, gradient norm, weight or test loss) is returned with `failed` set, not thrown.
// With config.comm of N > 1 ranks, every rank calls it; at the end the ranks' final parameters and weights
// are compared bit for bit (a gn::Error if any rank's differ from rank 0's).
ToyRunResult run_toy(const ToyData& data, const ToyRunConfig& config,
                     const std::function<void(std::int64_t, std::int64_t)>& progress = {});

// Trains `methods` in order from the same data and initial network ("gradnorm-static" trains with the mean
// weights of the "gradnorm" result before it; without a finished one it is reported "not run"). A method
// that diverges is kept with `failed` set and the next one still runs, so the finished ones' results are
// never lost. Stops after a run that a signal stopped (ToyRunResult::stopped: the last result). prepare(config)
// is called before each run with config.method set (the app sets the checkpoint folder there) and returns
// that run's progress callback (may be empty); done(result) after each. Other errors are thrown.
using Progress = std::function<void(std::int64_t, std::int64_t)>;
std::vector<ToyRunResult> run_methods(const ToyData& data, ToyRunConfig config, const std::vector<std::string>& methods,
                                      const std::function<Progress(ToyRunConfig&)>& prepare = {},
                                      const std::function<void(const ToyRunResult&)>& done = {});

}  // namespace gn::toy
