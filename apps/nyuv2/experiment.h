#pragma once
// One NYUv2 training run (the `train` subcommand) and the evaluation of a checkpoint (`eval`): the model of
// models.h, its tasks (seg, depth, normal, keypoint) with their losses and dense metrics, the data of
// dataset.h / loader.h, all on the shared trainer (apps/common/trainer.h). README.md ("Usage") documents the
// files written.
//
// Task errors (lower is better; what the sweep protocol compares): segmentation 100 (1 - mIoU), depth RMSE,
// normals mean 1 - |cos|, keypoints error % of the diagonal. The score is sum_i e_i(end) / e_i(0), e_i(0)
// being the untrained network's error on the same val split (like the toy's test_loss_ratio_sum): 1 per task
// means "no better than at initialisation", lower is better.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/evaluator.h"
#include "apps/nyuv2/dataset.h"
#include "apps/nyuv2/models.h"
#include "core/communicator.h"
#include "multitask/strategies.h"
#include "nn/safetensors.h"

namespace gn::nyuv2 {

struct TrainConfig {
  std::filesystem::path data, out;
  std::string model = "segnet";
  double width_mult = 1.0;
  int output_stride = 0;  // 0: the model's default
  std::vector<NyuTask> tasks{NyuTask::Segmentation, NyuTask::Depth, NyuTask::Normal};
  std::string method = "gradnorm";
  multitask::WeightingConfig weighting;  // alpha, weight_param, static weights, initial loss
  std::int64_t steps = 1000;
  std::int64_t batch = 8;
  std::string optimizer = "adam";
  double lr = 2e-5;
  double lr_decay = 0.2;
  std::int64_t lr_decay_steps = 0;  // 0: constant
  std::int64_t eval_every = 100;
  std::int64_t eval_batch = 8;
  std::int64_t checkpoint_every = 0;
  int checkpoint_keep = 3;
  bool resume = false;
  std::uint64_t seed = 0;
  Device device = cpu_device();
  int threads = 1;
  bool augment = false;
  std::function<void(std::int64_t done, std::int64_t total)> progress;
  // Data parallel (docs/data-parallel.md): the ranks' communicator (borrowed; null or world size 1: one
  // process). batch stays the global batch; each rank trains on its slice and evaluates its shard of val.
  Communicator* comm = nullptr;
  double bucket_mb = 25;  // the gradient all-reduce's bucket size
  bool sync_bn = false;   // batch norm with the statistics of the global batch (nn/batch_norm.h)
};

// One metric value of one task: key "<task prefix>_<value>" (seg_miou, depth_rmse, normal_mean_deg, ...).
struct NamedValue {
  std::string key;
  double value = 0;
};

struct TrainResult {
  std::string status = "finished";  // or the divergence message
  bool diverged = false;
  bool stopped = false;  // SIGINT/SIGTERM
  std::int64_t start_step = 0, parameters = 0;
  std::vector<double> final_weights, mean_weights;
  std::vector<NamedValue> metrics;          // the last evaluation
  std::vector<double> task_errors;          // per task, the last evaluation
  std::vector<double> initial_task_errors;  // the untrained network's
  double score = 0;
  double images_per_s = 0;  // batch / median step time (the step alone)
  double wall_s = 0;
  std::string metrics_csv;  // the whole metrics.csv text
  int world_size = 1;
  double comm_ms_median = 0;        // of the median step, the time in its collectives (data parallel)
  bool replicas_identical = false;  // data parallel: every rank's parameters and weights are rank 0's bits
};

// The tasks' specs (13 classes; K keypoint channels).
std::vector<TaskSpec> make_task_specs(const std::vector<NyuTask>& tasks, std::int64_t keypoints);
// "seg", "depth", "normal", "keypoint": the prefix of a task's metric keys.
std::string task_prefix(NyuTask t);
// A task's error (lower is better) from its metric values.
double task_error(NyuTask t, const std::vector<NamedValue>& values);
// Every metric value of an evaluation, flattened with keys, in task order.
std::vector<NamedValue> flatten_metrics(const std::vector<NyuTask>& tasks, const app::EvalResult& result);

// Trains, writing out/<method>/checkpoints when checkpoints are on (rank 0 alone, data parallel). Outputs (metrics.csv,
// summary.json, run.json) are written by write_train_outputs. Throws gn::Error on bad data or settings; a divergence is
// returned (status), not thrown.
TrainResult run_train(const TrainConfig& config);
// out/metrics.csv, out/<method>/summary.json, then out/run.json (app::OutputSet).
void write_train_outputs(const TrainConfig& config, const TrainResult& result);

struct EvalConfig {
  std::filesystem::path data, checkpoint, out;
  bool dump_predictions = false;
  std::int64_t batch = 8;
  Device device = cpu_device();
};
struct EvalOutput {
  std::vector<NamedValue> metrics;
  std::vector<double> task_errors;
  std::int64_t step = 0;
};
// Rebuilds the model from the checkpoint's metadata, evaluates it on DIR/val, writes out/metrics.json and
// with dump_predictions out/pred/{seg,depth,normal,keypoint}/{id}.npy at the targets' resolution.
EvalOutput run_eval(const EvalConfig& config);

}  // namespace gn::nyuv2
