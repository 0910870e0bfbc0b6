// The gradnorm-nyuv2 app's training and evaluation (apps/nyuv2/experiment.h) end to end on synthetic scenes
// with a tiny SegNet: synth -> train (checkpoints, outputs) -> eval of the last checkpoint (the same metrics
// as the end of training) -> the dumped predictions, re-scored with the metric classes, give those metrics.
// The command line (flags refused before any work, exit statuses) is tests/apps/nyuv2_cli.sh.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/common/checkpoint.h"
#include "apps/common/npy.h"
#include "apps/nyuv2/dataset.h"
#include "apps/nyuv2/experiment.h"
#include "apps/nyuv2/models.h"
#include "apps/nyuv2/report.h"
#include "apps/nyuv2/synth.h"
#include "core/autograd.h"
#include "multitask/dense_metrics.h"
#include "nn/state_dict.h"

namespace gn::nyuv2 {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("gn_nyuv2_app_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

double value_of(const std::vector<NamedValue>& values, const std::string& key) {
  for (const auto& v : values)
    if (v.key == key) return v.value;
  ADD_FAILURE() << "no metric " << key;
  return NAN;
}

// The tiny GradNorm training every test here starts from: width 1/16, batch 2, evaluation and a checkpoint
// every 2 steps. Tests set what they vary (tasks, steps, seed, out).
TrainConfig tiny_train_config(const fs::path& data, const fs::path& out, std::int64_t steps) {
  TrainConfig c;
  c.data = data;
  c.out = out;
  c.width_mult = 0.0625;
  c.method = "gradnorm";
  c.steps = steps;
  c.batch = 2;
  c.lr = 1e-3;
  c.eval_every = 2;
  c.checkpoint_every = 2;
  return c;
}

TEST(NyuApp, TrainEvalDumpEndToEnd) {
  TempDir tmp;
  const fs::path data = tmp.path / "data", run = tmp.path / "run", ev = tmp.path / "eval";
  write_synthetic_nyuv2(data, SynthSpec{.train = 6, .val = 3, .height = 32, .width = 40, .seed = 3});

  TrainConfig c = tiny_train_config(data, run, 4);
  c.seed = 5;
  const TrainResult r = run_train(c);
  ASSERT_EQ(r.status, "finished");
  write_train_outputs(c, r);
  ASSERT_EQ(r.task_errors.size(), 3u);
  for (double e : r.task_errors) EXPECT_TRUE(std::isfinite(e));
  for (const auto& v : r.metrics) EXPECT_TRUE(std::isfinite(v.value)) << v.key;
  double sum = 0;
  for (double w : r.final_weights) sum += w;
  EXPECT_NEAR(sum, 3.0, 1e-6);
  EXPECT_TRUE(std::isfinite(r.score));

  // The output set: metrics.csv rows at steps 0, 2, 4; the summary's fields; run.json last.
  for (const char* f : {"metrics.csv", "gradnorm/summary.json", "run.json"}) EXPECT_TRUE(fs::exists(run / f)) << f;
  std::ifstream sj(run / "gradnorm" / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(sj);
  EXPECT_EQ(j["status"], "finished");
  EXPECT_EQ(j["method"], "gradnorm");
  for (const char* k : {"seg_miou", "seg_pixel_acc", "depth_rmse", "depth_abs_err", "depth_rel_err", "normal_mean_deg",
                        "normal_median_deg", "normal_within_11_25", "normal_within_22_5", "normal_within_30"})
    EXPECT_TRUE(j["metrics"].contains(k)) << k;
  EXPECT_EQ(j["task_errors"].size(), 3u);
  EXPECT_EQ(j["mean_weights"].size(), 3u);
  EXPECT_GT(j["parameters"].get<std::int64_t>(), 0);
  std::ifstream csv(run / "metrics.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 4);  // header + steps 0, 2, 4
  EXPECT_NE(report_table({run}).find("| gradnorm |"), std::string::npos);

  // The last checkpoint gives the metrics of the end of training.
  const auto ckpt = app::latest_checkpoint(run / "gradnorm" / "checkpoints");
  ASSERT_TRUE(ckpt.has_value());
  const EvalOutput out = run_eval({.data = data, .checkpoint = *ckpt, .out = ev, .dump_predictions = true});
  EXPECT_EQ(out.step, 4);
  ASSERT_EQ(out.metrics.size(), r.metrics.size());
  for (std::size_t k = 0; k < out.metrics.size(); ++k) {
    EXPECT_EQ(out.metrics[k].key, r.metrics[k].key);
    EXPECT_NEAR(out.metrics[k].value, r.metrics[k].value, 1e-9 + 1e-6 * std::abs(r.metrics[k].value))
        << out.metrics[k].key;
  }
  EXPECT_TRUE(fs::exists(ev / "metrics.json"));

  // The dumped predictions, re-scored against the val targets with the metric classes.
  const NyuDataset val(data, "val", {NyuTask::Segmentation, NyuTask::Depth, NyuTask::Normal});
  const std::int64_t N = val.size(), H = val.height(), W = val.width();
  std::vector<std::int64_t> seg;
  std::vector<double> depth, normal, label_t, depth_t, normal_t;
  for (std::int64_t k = 0; k < N; ++k) {
    const std::string name = std::to_string(val.ids()[static_cast<std::size_t>(k)]) + ".npy";
    const app::NpyArray s = app::read_npy(ev / "pred" / "seg" / name);
    const app::NpyArray d = app::read_npy(ev / "pred" / "depth" / name);
    const app::NpyArray n = app::read_npy(ev / "pred" / "normal" / name);
    ASSERT_EQ(s.header.type, app::NpyType::Int64);
    ASSERT_EQ(s.header.shape, (Shape{H, W}));
    ASSERT_EQ(d.header.type, app::NpyType::Float32);
    ASSERT_EQ(d.header.shape, (Shape{H, W}));
    ASSERT_EQ(n.header.shape, (Shape{H, W, 3}));
    for (double v : s.tensor.to_vector()) seg.push_back(static_cast<std::int64_t>(v));
    for (double v : d.tensor.to_vector()) depth.push_back(v);
    const std::vector<double> hwc = n.tensor.to_vector();
    for (std::int64_t ch = 0; ch < 3; ++ch)
      for (std::int64_t q = 0; q < H * W; ++q) normal.push_back(hwc[static_cast<std::size_t>(q * 3 + ch)]);
    for (std::int64_t q = 0; q < H * W; ++q) {
      const double len = std::hypot(hwc[q * 3], hwc[q * 3 + 1], hwc[q * 3 + 2]);
      EXPECT_TRUE(len == 0 || std::abs(len - 1) < 1e-5);
    }
    const NyuSample t = val.load(k);
    for (double v : t.targets[0].to_vector()) label_t.push_back(v);
    for (double v : t.targets[1].to_vector()) depth_t.push_back(v);
    for (double v : t.targets[2].to_vector()) normal_t.push_back(v);
  }
  std::vector<std::int64_t> labels_t(label_t.begin(), label_t.end());
  multitask::SegmentationMetric sm(kNumClasses);
  sm.add(Tensor::from_labels(seg, {N, H, W}), Tensor::from_labels(labels_t, {N, H, W}));
  multitask::DepthMetric dm;
  dm.add(Tensor::from_vector(depth, {N, 1, H, W}), Tensor::from_vector(depth_t, {N, 1, H, W}));
  multitask::NormalMetric nm;
  nm.add(Tensor::from_vector(normal, {N, 3, H, W}), Tensor::from_vector(normal_t, {N, 3, H, W}));
  auto get = [](const multitask::Metric& m, const std::string& name) {
    for (const auto& v : m.values())
      if (v.name == name) return v.value;
    return std::nan("");
  };
  EXPECT_DOUBLE_EQ(get(sm, "miou"), value_of(out.metrics, "seg_miou"));
  EXPECT_DOUBLE_EQ(get(sm, "pixel_acc"), value_of(out.metrics, "seg_pixel_acc"));
  EXPECT_NEAR(get(dm, "rmse"), value_of(out.metrics, "depth_rmse"), 1e-5 * value_of(out.metrics, "depth_rmse"));
  EXPECT_NEAR(get(dm, "abs_err"), value_of(out.metrics, "depth_abs_err"),
              1e-5 * value_of(out.metrics, "depth_abs_err"));
  EXPECT_NEAR(get(nm, "mean_deg"), value_of(out.metrics, "normal_mean_deg"), 1e-3);
  EXPECT_NEAR(get(nm, "median_deg"), value_of(out.metrics, "normal_median_deg"), 0.02);
  EXPECT_NEAR(get(nm, "within_30"), value_of(out.metrics, "normal_within_30"), 1e-3);
}

// The keypoint task end to end: eval --dump-predictions writes pred/keypoint/{id}.npy as float32 K x H x W
// heatmaps, each the model's own output for that val sample (the checkpoint's model run here on one image at
// a time: the sample order, channel layout and values of the dump), and the keypoint metrics recomputed from
// those files (with the metric class, and by hand from the definition in docs/dense-tasks.md) are the ones
// eval reports.
TEST(NyuApp, KeypointPredictionsDumpedAndRescored) {
  TempDir tmp;
  const fs::path data = tmp.path / "data", run = tmp.path / "run", ev = tmp.path / "eval";
  constexpr std::int64_t K = 2;  // few channels, so most hold a visible corner
  write_synthetic_nyuv2(data, SynthSpec{.train = 4, .val = 5, .height = 32, .width = 40, .seed = 7, .keypoints = K});

  TrainConfig c = tiny_train_config(data, run, 2);
  c.tasks = {NyuTask::Depth, NyuTask::Keypoint};
  c.seed = 2;
  const TrainResult r = run_train(c);
  ASSERT_EQ(r.status, "finished");
  const auto ckpt = app::latest_checkpoint(run / "gradnorm" / "checkpoints");
  ASSERT_TRUE(ckpt.has_value());
  const EvalOutput out = run_eval({.data = data, .checkpoint = *ckpt, .out = ev, .dump_predictions = true});
  const double error_pct = value_of(out.metrics, "keypoint_error_pct");
  const double pck_5 = value_of(out.metrics, "keypoint_pck_5");
  EXPECT_NEAR(error_pct, value_of(r.metrics, "keypoint_error_pct"), 1e-9);
  EXPECT_NEAR(pck_5, value_of(r.metrics, "keypoint_pck_5"), 1e-12);
  // The report's keypoint column (Table 2's "Kpt. Err. (%)") holds the run's error.
  write_train_outputs(c, r);
  const std::string table = report_table({run});
  EXPECT_NE(table.find("kpt err %"), std::string::npos) << table;
  EXPECT_NE(table.find(fmt::format("| {:.2f} |", value_of(r.metrics, "keypoint_error_pct"))), std::string::npos)
      << table;

  const NyuDataset val(data, "val", {NyuTask::Keypoint});
  ASSERT_EQ(val.keypoints(), K);
  ModelSpec spec;
  spec.width_mult = c.width_mult;
  spec.tasks = make_task_specs(c.tasks, K);
  auto model = make_nyuv2_model(spec);
  model->load_state_dict(nn::strip_prefix(app::load_checkpoint(*ckpt).tensors, "model."));
  model->eval();
  NoGradGuard no_grad;
  const std::int64_t N = val.size(), H = val.height(), W = val.width();
  std::vector<double> pred, target;
  double sum_e = 0, within = 0, present = 0;
  for (std::int64_t k = 0; k < N; ++k) {
    const std::string name = std::to_string(val.ids()[static_cast<std::size_t>(k)]) + ".npy";
    for (NyuTask t : {NyuTask::Segmentation, NyuTask::Normal})  // only the trained tasks are dumped
      EXPECT_FALSE(fs::exists(ev / "pred" / task_prefix(t) / name));
    ASSERT_TRUE(fs::exists(ev / "pred" / "depth" / name));
    const app::NpyArray p = app::read_npy(ev / "pred" / "keypoint" / name);
    ASSERT_EQ(p.header.type, app::NpyType::Float32);
    ASSERT_EQ(p.header.shape, (Shape{K, H, W}));
    const NyuSample sample = val.load(k);
    const std::vector<double> pv = p.tensor.to_vector(), tv = sample.targets[0].to_vector();
    ASSERT_EQ(tv.size(), pv.size());
    const std::vector<double> direct = model->forward_all(sample.image.reshape({1, 3, H, W}))[1].to_vector();
    ASSERT_EQ(direct.size(), pv.size());
    double scale = 0, diff = 0;
    for (std::size_t q = 0; q < pv.size(); ++q) {
      scale = std::max(scale, std::abs(direct[q]));
      diff = std::max(diff, std::abs(direct[q] - pv[q]));
    }
    EXPECT_LE(diff, 1e-4 * scale) << name << ": the dump is not the model's output for this sample";
    pred.insert(pred.end(), pv.begin(), pv.end());
    target.insert(target.end(), tv.begin(), tv.end());
    for (std::int64_t j = 0; j < K; ++j) {  // the definition: argmax (first maximum, row-major) distances
      const auto at = [&](const std::vector<double>& v) { return v.begin() + j * H * W; };
      const auto pmax = std::max_element(at(pv), at(pv) + H * W), tmax = std::max_element(at(tv), at(tv) + H * W);
      if (!(*tmax > 0.5)) continue;
      const auto pq = pmax - at(pv), tq = tmax - at(tv);
      const double e = 100.0 * std::hypot(double(pq / W - tq / W), double(pq % W - tq % W)) / std::hypot(H, W);
      sum_e += e;
      within += e <= 5 ? 1 : 0;
      present += 1;
    }
  }
  ASSERT_GE(present, 3) << "too few keypoints present in the val split: pick another seed";
  EXPECT_NEAR(sum_e / present, error_pct, 1e-9 * (1 + error_pct));
  EXPECT_DOUBLE_EQ(within / present, pck_5);
  multitask::KeypointMetric km;
  km.add(Tensor::from_vector(pred, {N, K, H, W}), Tensor::from_vector(target, {N, K, H, W}));
  for (const auto& v : km.values()) {
    if (v.name == "error_pct") {
      EXPECT_NEAR(v.value, error_pct, 1e-9 * (1 + error_pct));
    } else if (v.name == "pck_5") {
      EXPECT_DOUBLE_EQ(v.value, pck_5);
    }
  }
}

TEST(NyuApp, ResumedRunWritesTheSameMetrics) {
  TempDir tmp;
  const fs::path data = tmp.path / "data";
  write_synthetic_nyuv2(data, SynthSpec{.train = 4, .val = 2, .height = 32, .width = 32, .seed = 1});
  TrainConfig c = tiny_train_config(data, tmp.path / "ref", 4);
  c.tasks = {NyuTask::Depth, NyuTask::Normal};
  const TrainResult ref = run_train(c);
  // A run of 2 steps, then resumed to 4 from its checkpoint.
  c.out = tmp.path / "run";
  c.steps = 2;
  run_train(c);
  c.steps = 4;
  c.resume = true;
  const TrainResult resumed = run_train(c);
  EXPECT_EQ(resumed.start_step, 2);
  EXPECT_EQ(resumed.metrics_csv, ref.metrics_csv);
  EXPECT_EQ(resumed.final_weights, ref.final_weights);
}

}  // namespace
}  // namespace gn::nyuv2
