#include "apps/nyuv2/experiment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "apps/common/checkpoint.h"
#include "apps/common/npy.h"
#include "apps/common/trainer.h"
#include "apps/common/writers.h"
#include "apps/nyuv2/loader.h"
#include "apps/nyuv2/synth.h"
#include "core/autograd.h"
#include "core/error.h"
#include "multitask/dense_metrics.h"
#include "multitask/dense_predictions.h"
#include "nn/lr_schedule.h"
#include "nn/optimizer_factory.h"
#include "nn/sync_batch_norm.h"

namespace gn::nyuv2 {

namespace fs = std::filesystem;

std::vector<TaskSpec> make_task_specs(const std::vector<NyuTask>& tasks, std::int64_t keypoints) {
  std::vector<TaskSpec> specs;
  for (NyuTask t : tasks) {
    TaskSpec s;
    s.name = std::string(task_name(t));
    switch (t) {
      case NyuTask::Segmentation:
        s.channels = kNumClasses;
        s.loss = multitask::TaskLoss::segmentation(kNumClasses);
        s.metrics = {std::make_shared<multitask::SegmentationMetric>(kNumClasses)};
        break;
      case NyuTask::Depth:
        s.channels = 1;
        s.loss = multitask::TaskLoss::depth_l2();
        s.metrics = {std::make_shared<multitask::DepthMetric>()};
        break;
      case NyuTask::Normal:
        s.channels = 3;
        s.loss = multitask::TaskLoss::normals();
        s.metrics = {std::make_shared<multitask::NormalMetric>()};
        break;
      case NyuTask::Keypoint:
        GN_CHECK(keypoints >= 1, "the keypoint task needs keypoint heatmaps (K >= 1) in the data");
        s.channels = keypoints;
        s.loss = multitask::TaskLoss::keypoints();
        s.metrics = {std::make_shared<multitask::KeypointMetric>()};
        break;
    }
    specs.push_back(std::move(s));
  }
  return specs;
}

std::string task_prefix(NyuTask t) {
  switch (t) {
    case NyuTask::Segmentation:
      return "seg";
    case NyuTask::Depth:
      return "depth";
    case NyuTask::Normal:
      return "normal";
    case NyuTask::Keypoint:
      return "keypoint";
  }
  return "task";
}

double task_error(NyuTask t, const std::vector<NamedValue>& values) {
  const std::string key = task_prefix(t) + "_" +
                          (t == NyuTask::Segmentation ? "100_minus_iou"
                           : t == NyuTask::Depth      ? "rmse"
                           : t == NyuTask::Normal     ? "one_minus_abs_cos"
                                                      : "error_pct");
  for (const NamedValue& v : values)
    if (v.key == key) return v.value;
  GN_FAIL("no metric '{}' in the evaluation", key);
}

std::vector<NamedValue> flatten_metrics(const std::vector<NyuTask>& tasks, const app::EvalResult& result) {
  GN_CHECK(result.tasks.size() == tasks.size(), "evaluation has {} tasks, expected {}", result.tasks.size(),
           tasks.size());
  std::vector<NamedValue> out;
  for (std::size_t i = 0; i < tasks.size(); ++i)
    for (std::size_t k = 0; k < result.tasks[i].values.size(); ++k)
      out.push_back({task_prefix(tasks[i]) + "_" + result.tasks[i].metrics[k], result.tasks[i].values[k]});
  return out;
}

namespace {

std::string join_tasks(const std::vector<NyuTask>& tasks) {
  std::vector<std::string> names;
  for (NyuTask t : tasks) names.push_back(task_prefix(t));
  return fmt::format("{}", fmt::join(names, ","));
}

std::vector<double> errors_of(const std::vector<NyuTask>& tasks, const std::vector<NamedValue>& values) {
  std::vector<double> e;
  for (NyuTask t : tasks) e.push_back(task_error(t, values));
  return e;
}

// Data parallel: every rank must end with rank 0's bits in every parameter and loss weight (and, with
// synchronised batch norm, every running statistic; without it each rank keeps its own, and rank 0's are
// checkpointed). Throws on a rank that differs: the replicas split, which the step's reductions exclude.
bool replicas_identical(Communicator& comm, multitask::MultitaskModel& model, app::Trainer& trainer,
                        const TrainConfig& c) {
  std::vector<Tensor> mine;
  for (const auto& [name, p] : model.named_parameters()) mine.push_back(p.detach());
  if (c.sync_bn)
    for (const auto& [name, b] : model.named_buffers()) mine.push_back(b);
  for (const auto& w : {trainer.stepper().current_weights(), trainer.stepper().mean_weights()})
    mine.push_back(Tensor::from_vector(w, {std::ssize(w)}, DType::Float64));
  std::int64_t differ = 0;
  for (const Tensor& t : mine) {
    Tensor root = t.clone();
    comm.broadcast(root, 0);
    const std::size_t bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
    if (std::memcmp(root.raw_data(), t.raw_data(), bytes) != 0) ++differ;
  }
  GN_CHECK(differ == 0,
           "nyuv2: rank {} of {} ended with {} of {} tensors (parameters, weights{}) differing from "
           "rank 0's: the replicas diverged",
           comm.rank(), comm.size(), differ, mine.size(), c.sync_bn ? ", batch-norm statistics" : "");
  return true;
}

std::string metadata_value(const nn::SafetensorsFile& f, const std::string& key, const fs::path& path) {
  const std::string* v = f.find(key);
  GN_CHECK(v != nullptr, "{}: the checkpoint has no '{}' metadata (not a gradnorm-nyuv2 checkpoint?)", path.string(),
           key);
  return *v;
}

}  // namespace

TrainResult run_train(const TrainConfig& c) {
  const auto t_start = std::chrono::steady_clock::now();
  const int T = static_cast<int>(c.tasks.size());
  auto train_set = std::make_shared<const NyuDataset>(c.data, "train", c.tasks);
  const NyuDataset val_set(c.data, "val", c.tasks);
  GN_CHECK(c.batch <= train_set->size(), "--batch {} is larger than the training split ({} samples)", c.batch,
           train_set->size());
  ModelSpec spec;
  spec.kind = parse_model_kind(c.model);
  spec.width_mult = c.width_mult;
  spec.tasks = make_task_specs(c.tasks, train_set->keypoints());
  spec.output_stride = c.output_stride;
  spec.device = c.device;
  spec.seed = c.seed * 1000 + 1;
  const int stride = resolved_output_stride(spec);
  auto model = make_nyuv2_model(spec);
  const int world = c.comm != nullptr ? c.comm->size() : 1;
  GN_CHECK(world == 1 || c.device.is_cpu(), "data-parallel training runs on CPU ranks here (use --device cpu)");
  GN_CHECK(c.batch >= world, "--batch {} cannot be split over {} ranks (each needs at least one sample)", c.batch,
           world);
  if (c.sync_bn && world > 1) nn::sync_batch_norms(*model, c.comm);  // N ranks normalise as one batch
  auto weighting = multitask::make_weighting(c.method, T, c.weighting);
  auto opt = nn::make_optimizer(c.optimizer, model->parameters(), {.lr = c.lr, .momentum = 0.9});
  std::unique_ptr<nn::StepLR> schedule;
  if (c.lr_decay_steps > 0) schedule = std::make_unique<nn::StepLR>(*opt, c.lr_decay_steps, c.lr_decay);
  LoaderOptions lo;
  lo.batch = c.batch;
  lo.seed = c.seed * 1000 + 2;
  lo.augment = c.augment;
  lo.threads = 1;  // the prefetching thread reads alone: the cores are the step's (loader.cpp says why)
  lo.rank = c.comm != nullptr ? c.comm->rank() : 0;  // each rank reads its rows of every global batch
  lo.world = world;
  lo.device = c.device;
  NyuLoader loader(train_set, lo);
  app::Evaluator evaluator(*model, load_all(val_set, c.device), c.eval_batch, c.comm);  // sharded over ranks

  app::TrainerConfig tc{.steps = c.steps, .log_every = c.eval_every, .eval_every = 0};
  tc.progress_every = std::max<std::int64_t>(1, std::min<std::int64_t>(50, c.steps / 100));
  tc.checkpoint_every = c.checkpoint_every;
  tc.checkpoint_dir = c.out / c.method / "checkpoints";
  tc.checkpoint_keep = c.checkpoint_keep;
  tc.comm = c.comm;
  tc.bucket_mb = c.bucket_mb;
  tc.checkpoint_metadata = {{"app", "gradnorm-nyuv2"},
                            {"method", c.method},
                            {"model", to_string(spec.kind)},
                            {"width_mult", fmt::format("{}", c.width_mult)},
                            {"output_stride", std::to_string(stride)},
                            {"tasks", join_tasks(c.tasks)},
                            {"keypoints", std::to_string(train_set->keypoints())},
                            {"num_classes", std::to_string(kNumClasses)},
                            {"dtype", "float32"},
                            {"seed", std::to_string(c.seed)},
                            {"batch", std::to_string(c.batch)},
                            {"optimizer", c.optimizer},
                            {"lr", fmt::format("{}", c.lr)},
                            {"alpha", fmt::format("{}", c.weighting.gradnorm.alpha)},
                            {"weight_param", c.weighting.gradnorm.weight_param},
                            {"augment", c.augment ? "1" : "0"}};
  app::Trainer trainer(*model, *weighting, *opt, loader, tc, schedule.get(), &evaluator);

  // Rows of metrics.csv: step, w (T), train losses (T), grad norms at W (T; nan when the method measures
  // none), val metric values (V), score.
  std::vector<std::string> val_keys;
  std::vector<double> val_values, initial_errors;
  std::vector<std::vector<double>> rows;
  double score = NAN;
  TrainResult r;
  trainer.hooks.on_eval = [&](std::int64_t done, const app::EvalResult& e) {
    const std::vector<NamedValue> flat = flatten_metrics(c.tasks, e);
    val_keys.clear();
    val_values.clear();
    for (const NamedValue& v : flat) {
      val_keys.push_back(v.key);
      val_values.push_back(v.value);
    }
    const std::vector<double> errors = errors_of(c.tasks, flat);
    if (done == 0) initial_errors = errors;
    score = 0;
    for (int i = 0; i < T; ++i) {
      const double ratio = errors[i] / initial_errors.at(i);
      if (!std::isfinite(errors[i]))
        throw multitask::TrainingDiverged(
            std::max<std::int64_t>(done - 1, 0),
            fmt::format("training diverged at step {}: task {} ('{}') val error is {}",
                        std::max<std::int64_t>(done - 1, 0), i, model->task(i).name, errors[i]));
      score += ratio;
    }
  };
  trainer.hooks.on_log = [&](std::int64_t done, const multitask::StepStats& s) {
    std::vector<double> row{static_cast<double>(done)};
    const std::vector<double> w = trainer.stepper().current_weights();
    row.insert(row.end(), w.begin(), w.end());
    for (int i = 0; i < T; ++i) row.push_back(s.losses.empty() ? NAN : s.losses[i]);
    for (int i = 0; i < T; ++i) row.push_back(s.grad_norms.empty() ? NAN : s.grad_norms[i]);
    row.insert(row.end(), val_values.begin(), val_values.end());
    row.push_back(score);
    rows.push_back(std::move(row));
  };
  trainer.hooks.on_progress = c.progress;
  // The rows so far, the untrained errors and the latest values, in checkpoints (a resumed run writes the
  // same metrics.csv as an uninterrupted one).
  trainer.hooks.save_state = [&] {
    GN_CHECK(!rows.empty() && !initial_errors.empty(), "nyuv2: checkpoint: no metrics rows yet");
    const auto R = static_cast<std::int64_t>(rows.size()), width = static_cast<std::int64_t>(rows[0].size());
    std::vector<double> table;
    for (const auto& row : rows) table.insert(table.end(), row.begin(), row.end());
    return nn::StateDict{{"rows", Tensor::from_vector(table, {R, width}, DType::Float64)},
                         {"initial_errors", Tensor::from_vector(initial_errors, {T}, DType::Float64)},
                         {"val_values", Tensor::from_vector(val_values, {std::ssize(val_values)}, DType::Float64)},
                         {"score", Tensor::from_vector(std::vector<double>{score}, {1}, DType::Float64)}};
  };
  trainer.hooks.load_state = [&](const nn::StateDict& state) {
    Tensor table, init, vals, sc;
    for (const auto& [name, t] : state) {
      if (name == "rows") table = t;
      if (name == "initial_errors") init = t;
      if (name == "val_values") vals = t;
      if (name == "score") sc = t;
    }
    GN_CHECK(
        table.defined() && table.dim() == 2 && init.defined() && init.numel() == T && vals.defined() && sc.defined(),
        "nyuv2: the checkpoint's app state (rows, initial_errors, val_values, score) is missing or malformed");
    const std::vector<double> v = table.to_vector();
    const std::int64_t R = table.shape()[0], width = table.shape()[1];
    GN_CHECK(width == 2 + 3 * T + vals.numel(), "nyuv2: the checkpoint's metrics rows have {} columns, expected {}",
             width, 2 + 3 * T + vals.numel());
    rows.clear();
    for (std::int64_t k = 0; k < R; ++k) rows.emplace_back(v.begin() + k * width, v.begin() + (k + 1) * width);
    initial_errors = init.to_vector();
    val_values = vals.to_vector();
    score = sc.to_vector()[0];
  };
  if (c.resume)
    if (const auto latest = app::latest_checkpoint(tc.checkpoint_dir)) trainer.resume(*latest);

  r.parameters = model->num_parameters();
  app::TrainSummary summary;
  try {
    summary = trainer.run();
  } catch (const multitask::TrainingDiverged& e) {
    r.status = e.what();
    r.diverged = true;
  }
  r.start_step = summary.start_step;
  r.stopped = summary.stopped;
  r.world_size = world;
  r.comm_ms_median = summary.comm_ms_median;
  if (world > 1 && !r.diverged && !r.stopped) r.replicas_identical = replicas_identical(*c.comm, *model, trainer, c);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (summary.step_ms_median > 0) r.images_per_s = static_cast<double>(c.batch) * 1000.0 / summary.step_ms_median;
  r.initial_task_errors = initial_errors;
  if (!r.diverged) {
    r.final_weights = trainer.stepper().current_weights();
    r.mean_weights = trainer.stepper().mean_weights();
    // The last row holds the last evaluation (the last step is an eval step); after a resume of a finished
    // run the keys come from the checkpoint's values.
    std::vector<NamedValue> flat;
    if (val_keys.empty()) {  // resumed at the end: nothing evaluated in this process
      const app::EvalResult e = evaluator.evaluate();
      flat = flatten_metrics(c.tasks, e);
    } else {
      for (std::size_t k = 0; k < val_keys.size(); ++k) flat.push_back({val_keys[k], val_values[k]});
    }
    r.metrics = flat;
    r.task_errors = errors_of(c.tasks, flat);
    r.score = score;
  }
  // metrics.csv
  std::vector<std::string> columns{"method", "step"};
  for (auto& n : app::task_columns("w", T)) columns.push_back(std::move(n));
  for (auto& n : app::task_columns("train_loss", T)) columns.push_back(std::move(n));
  for (auto& n : app::task_columns("grad_norm", T)) columns.push_back(std::move(n));
  if (val_keys.empty() && !r.metrics.empty())
    for (const NamedValue& v : r.metrics) val_keys.push_back(v.key);
  for (const auto& k : val_keys) columns.push_back("val_" + k);
  columns.emplace_back("score");
  app::MetricsCsv csv(columns);
  for (const auto& row : rows) {
    if (row.size() != columns.size() - 1) continue;  // a row from before the first evaluation's keys
    csv.add_row(c.method, static_cast<std::int64_t>(row[0]), {std::span<const double>(row).subspan(1)});
  }
  r.metrics_csv = csv.text();
  return r;
}

void write_train_outputs(const TrainConfig& c, const TrainResult& r) {
  app::remove_outputs(c.out, {"run.json", "metrics.csv", c.method + "/summary.json"});
  std::error_code ec;
  fs::create_directories(c.out / c.method, ec);
  GN_CHECK(!ec, "cannot create {}: {}", (c.out / c.method).string(), ec.message());
  app::OutputSet out(c.out, app::make_run_id());
  out.write("metrics.csv", r.metrics_csv);
  nlohmann::ordered_json j;
  j["run_id"] = out.run_id();
  j["app"] = "gradnorm-nyuv2";
  j["method"] = c.method;
  std::vector<std::string> tasks;
  for (NyuTask t : c.tasks) tasks.push_back(task_prefix(t));
  j["tasks"] = tasks;
  j["model"] = c.model;
  j["width_mult"] = c.width_mult;
  j["parameters"] = r.parameters;
  j["alpha"] = c.weighting.gradnorm.alpha;
  j["weight_param"] = c.weighting.gradnorm.weight_param;
  j["steps"] = c.steps;
  j["batch"] = c.batch;
  j["lr"] = c.lr;
  j["optimizer"] = c.optimizer;
  j["seed"] = c.seed;
  j["device"] = to_string(c.device);
  j["threads"] = c.threads;
  j["augment"] = c.augment;
  j["world_size"] = r.world_size;  // data-parallel ranks (1 alone); batch is the global batch
  if (r.world_size > 1) {
    j["sync_bn"] = c.sync_bn;
    j["bucket_mb"] = c.bucket_mb;
    j["comm_ms_median"] = r.comm_ms_median;          // the median step's time in collectives
    j["replicas_identical"] = r.replicas_identical;  // every rank's parameters and weights: rank 0's bits
  }
  j["status"] = r.status;
  if (!r.diverged) {
    j["final_weights"] = r.final_weights;
    j["mean_weights"] = r.mean_weights;
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const NamedValue& v : r.metrics) m[v.key] = v.value;
    j["metrics"] = m;
    j["task_errors"] = r.task_errors;
    j["initial_task_errors"] = r.initial_task_errors;
    j["score"] = r.score;
  }
  j["images_per_s"] = r.images_per_s;
  j["wall_s"] = r.wall_s;
  j["resumed_from_step"] = r.start_step;
  out.write_json(fs::path(c.method) / "summary.json", j);
  out.finish();
}

EvalOutput run_eval(const EvalConfig& c) {
  const nn::SafetensorsFile file = app::load_checkpoint(c.checkpoint);
  auto meta = [&](const std::string& key) { return metadata_value(file, key, c.checkpoint); };
  GN_CHECK(meta("app") == "gradnorm-nyuv2", "{}: a checkpoint of '{}', not of gradnorm-nyuv2", c.checkpoint.string(),
           meta("app"));
  std::vector<NyuTask> tasks;
  {
    const std::string list = meta("tasks");
    std::size_t at = 0;
    while (at <= list.size()) {
      const std::size_t comma = std::min(list.find(',', at), list.size());
      tasks.push_back(parse_task(list.substr(at, comma - at)));
      at = comma + 1;
    }
  }
  GN_CHECK(meta("dtype") == "float32", "{}: dtype {} is not supported by eval", c.checkpoint.string(), meta("dtype"));
  const NyuDataset val(c.data, "val", tasks);
  const std::int64_t K = std::stoll(meta("keypoints"));
  GN_CHECK(val.keypoints() == K, "{}: the checkpoint's model predicts {} keypoints, the data has {}", c.data.string(),
           K, val.keypoints());
  ModelSpec spec;
  spec.kind = parse_model_kind(meta("model"));
  spec.width_mult = std::stod(meta("width_mult"));
  spec.output_stride = std::stoi(meta("output_stride"));
  spec.tasks = make_task_specs(tasks, K);
  spec.device = c.device;
  auto model = make_nyuv2_model(spec);
  model->load_state_dict(nn::strip_prefix(file.tensors, "model."));

  app::Dataset data = load_all(val, c.device);
  app::Evaluator evaluator(*model, data, c.batch);
  EvalOutput out;
  out.metrics = flatten_metrics(tasks, evaluator.evaluate());
  out.task_errors = errors_of(tasks, out.metrics);
  if (const std::string* s = file.find("step")) out.step = std::stoll(*s);

  app::prepare_output_dir(c.out);
  if (c.dump_predictions) {
    const std::int64_t H = val.height(), W = val.width();
    for (NyuTask t : tasks) fs::create_directories(c.out / "pred" / task_prefix(t));
    NoGradGuard no_grad;
    model->eval();
    for (std::int64_t b = 0; b < data.size(); b += c.batch) {
      const std::int64_t e = std::min(data.size(), b + c.batch);
      const std::vector<Tensor> preds = model->forward_all(data.x.slice(b, e));
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        Tensor p;
        switch (tasks[i]) {
          case NyuTask::Segmentation:
            p = multitask::segmentation_labels(preds[i], H, W);
            break;
          case NyuTask::Depth:
            p = multitask::depth_at(preds[i], H, W).reshape({e - b, H, W});
            break;
          case NyuTask::Normal:
            p = multitask::normals_at(preds[i], H, W);
            break;
          case NyuTask::Keypoint:
            p = preds[i];
            break;
        }
        p = p.to(cpu_device());
        const std::vector<double> v = p.to_vector();
        const std::int64_t per = p.numel() / (e - b);
        for (std::int64_t k = 0; k < e - b; ++k) {
          const fs::path file_out = c.out / "pred" / task_prefix(tasks[i]) /
                                    fmt::format("{}.npy", val.ids()[static_cast<std::size_t>(b + k)]);
          const double* at = v.data() + k * per;
          if (tasks[i] == NyuTask::Segmentation) {
            std::vector<std::int64_t> labels(at, at + per);
            app::write_npy(file_out, Tensor::from_labels(labels, {H, W}));
          } else if (tasks[i] == NyuTask::Normal) {  // (3, H, W) -> (H, W, 3), as the data set stores normals
            std::vector<float> hwc(static_cast<std::size_t>(per));
            for (std::int64_t ch = 0; ch < 3; ++ch)
              for (std::int64_t q = 0; q < H * W; ++q)
                hwc[static_cast<std::size_t>(q * 3 + ch)] = static_cast<float>(at[ch * H * W + q]);
            app::write_npy(file_out, Tensor::from_vector(std::span<const float>(hwc), {H, W, 3}));
          } else {
            std::vector<float> f(at, at + per);
            const Shape shape =
                tasks[i] == NyuTask::Depth ? Shape{H, W} : Shape{p.shape()[1], p.shape()[2], p.shape()[3]};
            app::write_npy(file_out, Tensor::from_vector(std::span<const float>(f), shape));
          }
        }
      }
    }
  }
  nlohmann::ordered_json j;
  j["checkpoint"] = fs::absolute(c.checkpoint).string();
  j["step"] = out.step;
  j["method"] = meta("method");
  j["model"] = meta("model");
  j["tasks"] = meta("tasks");
  j["val_samples"] = val.size();
  nlohmann::ordered_json m = nlohmann::ordered_json::object();
  for (const NamedValue& v : out.metrics) m[v.key] = v.value;
  j["metrics"] = m;
  j["task_errors"] = out.task_errors;
  app::write_json(c.out / "metrics.json", j);
  return out;
}

}  // namespace gn::nyuv2
