#pragma once
// The training loop every app shares. Each step t = 0 .. steps-1:
//   before_step(t) -> batch = source.next() -> MultitaskStep::step(x, targets, want_stats) -> synchronize
//   and time it -> schedule.step() -> on_trace (trace steps) -> evaluator + on_eval (eval steps) ->
//   on_log (log steps) -> on_progress (every progress_every steps and the last) -> after_step(t + 1) ->
//   checkpoint (every checkpoint_every steps, the last, and when SIGINT/SIGTERM asked to stop)
// want_stats is true on log and trace steps only: on other steps nothing is read back to the host (on CUDA
// a stats read is a sync point). Hooks are std::function slots; an unset slot is skipped.
//
// Data parallel (config.comm with N > 1 ranks; docs/data-parallel.md): every rank runs the same loop on the
// same batch stream (sources seeded alike draw the same global batches) and trains on its contiguous slice
// of each global batch (rows [off_r, off_r + len_r): B/N rows, the first B%N ranks one more); the step sums
// losses and gradients over the ranks (multitask/step.h), so the replicas stay bitwise identical. run()
// first broadcasts rank 0's parameters and buffers. Every rank evaluates and calls the hooks (the app
// prints and writes on rank 0 alone); checkpoints are written by rank 0 alone; a stop signal seen by any
// rank stops every rank after the same step.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "apps/common/batch_source.h"
#include "apps/common/checkpoint.h"
#include "apps/common/evaluator.h"
#include "apps/common/trace.h"
#include "core/communicator.h"
#include "multitask/model.h"
#include "multitask/step.h"
#include "multitask/weighting.h"
#include "nn/lr_schedule.h"
#include "nn/optimizer.h"

namespace gn::app {

struct TrainerConfig {
  std::int64_t steps = 0;        // training steps run() takes
  std::int64_t log_every = 50;   // log steps: every log_every-th step and the last
  std::int64_t eval_every = 0;   // eval steps: every eval_every-th step and the last; 0: the log steps
  std::int64_t trace_steps = 0;  // steps 0 .. trace_steps-1 ask for stats and call on_trace
  std::int64_t progress_every = 50;
  bool log_at_start = true;  // before step 0: on_eval(0, ...) with the untrained model, then on_log(0, stats
                             // holding the step index 0 alone: nothing has been trained or measured yet)
  // Checkpoints (apps/common/checkpoint.h): with checkpoint_every > 0, Trainer::state_dict() goes to
  // checkpoint_dir/ckpt-<done>.safetensors after every checkpoint_every-th step and the last, keeping the
  // latest checkpoint_keep. checkpoint_metadata is stored in each (the trainer adds format and step) and
  // must match the file's on resume (e.g. method, seed): a checkpoint of another run is refused.
  std::int64_t checkpoint_every = 0;
  std::filesystem::path checkpoint_dir{};
  int checkpoint_keep = 3;
  nn::Metadata checkpoint_metadata{};
  // Data parallel: the ranks' communicator (borrowed; null or world size 1: one process) and the gradient
  // all-reduce's bucket size in MiB (nn/grad_reducer.h).
  Communicator* comm = nullptr;
  double bucket_mb = 25;
};

// Where an app attaches to the loop. `done` is the number of steps finished: t + 1 after step t.
struct TrainerHooks {
  // Before step t draws its batch. A seam for what must happen before a step: data parallelism will
  // attach here (e.g. keep the replicas' batch streams in step). Nothing uses it yet.
  std::function<void(std::int64_t t)> before_step;
  // A trace step's statistics (the --trace printout by default).
  std::function<void(const multitask::StepStats& stats)> on_trace = print_trace;
  // The evaluator's result on an eval step (and at 0 with log_at_start); runs only with an evaluator.
  std::function<void(std::int64_t done, const EvalResult& result)> on_eval;
  // A log step's statistics (with losses, weights, norms and diagnostics): where metrics rows are made.
  std::function<void(std::int64_t done, const multitask::StepStats& stats)> on_log;
  std::function<void(std::int64_t done, std::int64_t total)> on_progress;
  // Last thing of every step, once the optimizer and the schedule stepped and the hooks above ran; stats as
  // the step returned them. The trainer's own checkpoint (config.checkpoint_every) is written right after.
  std::function<void(std::int64_t done, const multitask::StepStats& stats)> after_step;
  // The app's own state in checkpoints (e.g. its metrics rows so far), stored under "app.". load_state gets
  // those entries back on resume; it checks them all before changing anything (throw to refuse the file).
  // Both set or neither.
  std::function<nn::StateDict()> save_state;
  std::function<void(const nn::StateDict& state)> load_state;
};

struct TrainSummary {
  std::int64_t steps = 0;
  double step_ms_median = 0;    // MultitaskStep::step alone, the device synchronised: batch fetch not included
                                // (over the steps this run() took: after a resume, those after the checkpoint)
  double comm_ms_median = 0;    // of that, the time in the step's collectives (data parallel; 0 alone)
  std::int64_t start_step = 0;  // the step run() began at: 0, or the resumed checkpoint's
  bool stopped = false;         // SIGINT/SIGTERM stopped the loop after step `steps` (a checkpoint was written
                                // when checkpoints are on)
  std::filesystem::path last_checkpoint{};  // the last checkpoint this run() wrote, if any
};

class Trainer {
 public:
  // Everything is borrowed and must outlive the trainer. The optimizer holds the model's parameters (build it
  // with nn::make_optimizer); the schedule, when given, is stepped once after every step; the evaluator, when
  // given, runs on eval steps.
  Trainer(multitask::MultitaskModel& model, multitask::LossWeighting& weighting, nn::Optimizer& optimizer,
          BatchSource& source, TrainerConfig config, nn::StepLR* schedule = nullptr, Evaluator* evaluator = nullptr);

  TrainerHooks hooks;

  // Trains steps start_step() .. config.steps-1, calling the hooks; throws what the step or a hook throws.
  // Stops early (summary.stopped) when stop_requested() (apps/common/checkpoint.h) after a step.
  TrainSummary run();
  // Everything a resumed run needs to continue bitwise as if uninterrupted: "model.", "optimizer.",
  // "schedule." (with a schedule), "weighting.", "step." (MultitaskStep), "data." (the batch source),
  // "trainer.step" (steps done) and "app." (hooks.save_state). Values are copies.
  nn::StateDict state_dict() const;
  // Loads a state_dict() all or nothing: each part checks its entries before changing, and when a later
  // part refuses, the parts already loaded are put back, so on a gn::Error the run is unchanged. Then
  // run() continues from the saved step.
  void load_state_dict(const nn::StateDict& state);
  // load_checkpoint(path) (every byte checked), its metadata against config.checkpoint_metadata, then
  // load_state_dict; errors name the file.
  void resume(const std::filesystem::path& path);
  // Writes a checkpoint of the current state now (checkpoint_dir/ckpt-<steps done>.safetensors), prunes.
  std::filesystem::path save_checkpoint();
  std::int64_t start_step() const { return start_step_; }
  multitask::MultitaskStep& stepper() { return stepper_; }
  const TrainerConfig& config() const { return config_; }
  bool is_log_step(std::int64_t t) const;   // step t (0-based) asks for stats and calls on_log
  bool is_eval_step(std::int64_t t) const;  // step t is followed by an evaluation
  int rank() const { return config_.comm != nullptr ? config_.comm->rank() : 0; }
  int world_size() const { return config_.comm != nullptr ? config_.comm->size() : 1; }
  // This rank's rows [begin, end) of a global batch of `batch` rows.

 private:
  void evaluate(std::int64_t done);
  void broadcast_model();           // rank 0's parameters and buffers to every rank
  bool any_rank_stops() const;      // stop_requested() on any rank (a collective in a world of N > 1)
  nn::StateDict own_state() const;  // state_dict() without the app's part

  multitask::MultitaskModel& model_;
  multitask::LossWeighting& weighting_;
  nn::Optimizer& optimizer_;
  BatchSource& source_;
  TrainerConfig config_;
  nn::StepLR* schedule_;
  Evaluator* evaluator_;
  multitask::MultitaskStep stepper_;
  std::int64_t start_step_ = 0;
};

}  // namespace gn::app
