#include "apps/toy/experiment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "apps/common/shuffled_source.h"
#include "apps/common/trainer.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/lr_schedule.h"
#include "nn/optimizer_factory.h"
#include "nn/sequential.h"

namespace gn::toy {

using multitask::MultitaskModel;

// Trunk: 4 ReLU-activated layers of width `hidden`, the 4th being W (the last shared layer); heads: the
// final ReLU and one affine layer per task (paper, Section 4). Same seed, same initial network.
std::shared_ptr<MultitaskModel> make_toy_model(std::int64_t in, std::int64_t hidden, std::int64_t out, int tasks,
                                               std::uint64_t seed, Device device) {
  Generator gen(seed);
  auto trunk = std::make_shared<nn::Sequential>();
  std::int64_t width = in;
  for (int layer = 0; layer < 3; ++layer) {
    trunk->push_back(std::make_shared<nn::Linear>(width, hidden, gen, true, DType::Float32, device));
    trunk->push_back(std::make_shared<nn::ReLU>());
    width = hidden;
  }
  auto shared = std::make_shared<nn::Linear>(hidden, hidden, gen, true, DType::Float32, device);
  std::vector<std::shared_ptr<nn::Module>> heads;
  for (int i = 0; i < tasks; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::ReLU>());
    head->push_back(std::make_shared<nn::Linear>(hidden, out, gen, true, DType::Float32, device));
    heads.push_back(head);
  }
  return std::make_shared<MultitaskModel>(trunk, shared, heads);
}

namespace {

app::Dataset on_device(const ToySplit& s, Device d) { return app::Dataset{s.x, s.y}.to(d); }
std::vector<double> or_nan(const std::vector<double>& v, int T) { return v.empty() ? std::vector<double>(T, NAN) : v; }

// Data parallel: every rank must end with rank 0's bits (parameters, final and mean weights). Float32
// parameters are exact in float64, so comparing the float64 copies compares the bits.
bool check_replicas(Communicator& comm, const ToyRunResult& r) {
  std::vector<double> mine = r.final_parameters;
  mine.insert(mine.end(), r.final_weights.begin(), r.final_weights.end());
  mine.insert(mine.end(), r.mean_weights.begin(), r.mean_weights.end());
  Tensor root = Tensor::from_vector(mine, {static_cast<std::int64_t>(mine.size())}, DType::Float64);
  comm.broadcast(root, 0);
  const double* theirs = root.data<double>();
  std::int64_t differ = 0;
  for (std::size_t k = 0; k < mine.size(); ++k)
    if (std::memcmp(&mine[k], &theirs[k], sizeof(double)) != 0) ++differ;
  GN_CHECK(differ == 0,
           "toy {}: rank {} of {} ended with {} of {} numbers (parameters and weights) differing from "
           "rank 0's: the replicas diverged",
           r.method, comm.rank(), comm.size(), differ, mine.size());
  return true;
}

}  // namespace

ToyRunResult run_toy(const ToyData& data, const ToyRunConfig& c,
                     const std::function<void(std::int64_t, std::int64_t)>& progress) {
  const int T = static_cast<int>(data.train.y.size());
  const std::int64_t in = data.train.x.shape()[1], out = data.train.y[0].shape()[1];
  const std::int64_t N = data.train.x.shape()[0];
  GN_CHECK(c.batch >= 1 && c.batch <= N, "--batch {} must be in [1, {}] (the training set size)", c.batch, N);
  auto model = make_toy_model(in, c.hidden, out, T, c.init_seed, c.device);
  auto weighting = multitask::make_weighting(c.method, T, c.weighting);
  auto opt = nn::make_optimizer(c.optimizer, model->parameters(), {.lr = c.lr, .momentum = 0.9});
  std::unique_ptr<nn::StepLR> schedule;
  if (c.lr_decay_steps > 0) schedule = std::make_unique<nn::StepLR>(*opt, c.lr_decay_steps, c.lr_decay);
  app::ShuffledSource train(on_device(data.train, c.device), c.batch, c.batch_seed);
  app::Evaluator test(*model, on_device(data.test, c.device));  // the whole test set in one forward
  app::TrainerConfig tc{
      .steps = c.steps, .log_every = c.log_every, .trace_steps = c.method == "gradnorm" ? c.trace : 0};
  tc.checkpoint_every = c.checkpoint_every;
  tc.checkpoint_dir = c.checkpoint_dir;
  tc.checkpoint_keep = c.checkpoint_keep;
  tc.checkpoint_metadata = c.checkpoint_metadata;
  std::erase_if(tc.checkpoint_metadata, [](const auto& kv) { return kv.first == "method"; });
  tc.checkpoint_metadata.emplace(tc.checkpoint_metadata.begin(), "method", c.method);
  tc.comm = c.comm;
  tc.bucket_mb = c.bucket_mb;
  app::Trainer trainer(*model, *weighting, *opt, train, tc, schedule.get(), &test);

  ToyRunResult r;
  r.method = c.method;
  std::vector<double> test_losses;  // read to the host on log steps only
  trainer.hooks.on_eval = [&](std::int64_t done, const app::EvalResult& e) {
    test_losses = e.first();  // every task's MSE
    if (done == 0) r.initial_test_losses = test_losses;
  };
  trainer.hooks.on_log = [&](std::int64_t done, const multitask::StepStats& s) {
    MetricRow row{
        done, 0, trainer.stepper().current_weights(), or_nan(s.losses, T), test_losses, or_nan(s.grad_norms, T)};
    if (s.diagnostics.has("floor_hits")) row.floor_hits = s.diagnostics.at("floor_hits")[0];
    for (int i = 0; i < T; ++i) row.test_loss_ratio_sum += row.test_losses[i] / r.initial_test_losses[i];
    // The step checked its losses, norms and weights; the test set's losses are checked here (NaN in the
    // step-0 row's train losses and in unmeasured grad norms means "not measured" and is expected).
    for (int i = 0; i < T; ++i) {
      const double v = row.test_losses[i];
      if (!std::isfinite(v) || !std::isfinite(row.weights[i]))
        throw multitask::TrainingDiverged(  // done == 0: the untrained network's evaluation
            std::max<std::int64_t>(done - 1, 0),
            fmt::format("training diverged at step {}: task {} ('{}') {}{} is {}", std::max<std::int64_t>(done - 1, 0),
                        i, model->task(i).name, std::isfinite(v) ? fmt::format("weight w_{}", i) : "test loss",
                        done == 0 ? " of the untrained network" : "", std::isfinite(v) ? row.weights[i] : v));
    }
    r.rows.push_back(std::move(row));
  };
  trainer.hooks.on_progress = progress;
  if (c.after_step)
    trainer.hooks.after_step = [&](std::int64_t done, const multitask::StepStats&) { c.after_step(done); };
  // The metrics so far, in checkpoints: rows as one (R, 3 + 4T) float64 table (step, ratio sum, w, train
  // losses, test losses, grad norms, floor hits), the untrained and the latest test losses.
  const std::int64_t width = 3 + 4 * static_cast<std::int64_t>(T);
  trainer.hooks.save_state = [&] {
    std::vector<double> table;
    for (const MetricRow& row : r.rows) {
      table.push_back(static_cast<double>(row.step));
      table.push_back(row.test_loss_ratio_sum);
      for (const auto* v : {&row.weights, &row.train_losses, &row.test_losses, &row.grad_norms})
        table.insert(table.end(), v->begin(), v->end());
      table.push_back(row.floor_hits);
    }
    const auto R = static_cast<std::int64_t>(r.rows.size());
    GN_CHECK(R >= 1 && static_cast<std::int64_t>(table.size()) == R * width && std::ssize(r.initial_test_losses) == T &&
                 std::ssize(test_losses) == T,
             "toy: checkpoint: the metrics rows are incomplete ({} rows)", R);
    return nn::StateDict{{"rows", Tensor::from_vector(table, {R, width}, DType::Float64)},
                         {"initial_test_losses", Tensor::from_vector(r.initial_test_losses, {T}, DType::Float64)},
                         {"test_losses", Tensor::from_vector(test_losses, {T}, DType::Float64)}};
  };
  trainer.hooks.load_state = [&](const nn::StateDict& state) {
    std::int64_t R = 0;
    for (const auto& [name, t] : state)
      if (name == "rows" && t.defined() && t.dim() == 2) R = t.shape()[0];
    GN_CHECK(R >= 1, "toy: the checkpoint's app.rows is missing or empty");
    const nn::StateDict expected{{"rows", Tensor::zeros({R, width}, DType::Float64)},
                                 {"initial_test_losses", Tensor::zeros({T}, DType::Float64)},
                                 {"test_losses", Tensor::zeros({T}, DType::Float64)}};
    const nn::StateMatch m = nn::match_state(state, expected, "toy metrics");
    const std::vector<double> table = m.sources[0].to_vector();
    std::vector<MetricRow> rows;
    for (std::int64_t k = 0; k < R; ++k) {
      const double* at = table.data() + k * width;
      auto take = [&](int g) { return std::vector<double>(at + 2 + g * T, at + 2 + (g + 1) * T); };
      rows.push_back({static_cast<std::int64_t>(at[0]), at[1], take(0), take(1), take(2), take(3), at[width - 1]});
    }
    r.rows = std::move(rows);
    r.initial_test_losses = m.sources[1].to_vector();
    test_losses = m.sources[2].to_vector();
  };
  std::string resume_from = c.resume_from;
  if (c.resume && resume_from.empty() && !c.checkpoint_dir.empty())
    if (const auto latest = app::latest_checkpoint(c.checkpoint_dir)) resume_from = latest->string();
  if (c.resume && !resume_from.empty()) trainer.resume(resume_from);
  auto read_floor_hits = [&] {  // the weighting's cumulative count (a host read at the end)
    const multitask::Diagnostics d = weighting->read_diagnostics();
    if (d.has("floor_hits")) r.floor_hits = static_cast<std::int64_t>(d.at("floor_hits")[0]);
  };
  app::TrainSummary summary;
  try {
    summary = trainer.run();
  } catch (const multitask::TrainingDiverged& e) {
    r.failed = e.what();
    r.diverged_step = e.step;
    read_floor_hits();
    // Keep the rows measured before the divergence (row `step` holds step `step - 1`'s training losses) and
    // none with a non-finite measured number.
    std::erase_if(r.rows, [&](const MetricRow& row) {
      if (e.step >= 0 && row.step > e.step) return true;
      for (int i = 0; i < T; ++i)
        if (!std::isfinite(row.weights[i]) || !std::isfinite(row.test_losses[i])) return true;
      return !std::isfinite(row.test_loss_ratio_sum);
    });
    return r;
  }
  read_floor_hits();
  r.step_ms_median = summary.step_ms_median;
  r.start_step = summary.start_step;
  r.stopped = summary.stopped;
  r.last_checkpoint = summary.last_checkpoint.string();
  for (const Tensor& p : model->parameters())
    for (double v : p.to_vector()) r.final_parameters.push_back(v);
  r.final_weights = trainer.stepper().current_weights();
  r.mean_weights = trainer.stepper().mean_weights();
  r.world_size = trainer.world_size();
  r.comm_ms_median = summary.comm_ms_median;
  if (r.world_size > 1) r.replicas_identical = check_replicas(*c.comm, r);
  r.final_test_losses = r.rows.back().test_losses;
  r.test_loss_ratio_sum = r.rows.back().test_loss_ratio_sum;
  return r;
}

std::vector<ToyRunResult> run_methods(const ToyData& data, ToyRunConfig config, const std::vector<std::string>& methods,
                                      const std::function<Progress(ToyRunConfig&)>& prepare,
                                      const std::function<void(const ToyRunResult&)>& done) {
  std::vector<ToyRunResult> results;
  for (const auto& method : methods) {
    config.method = method;
    if (method == "gradnorm-static") {
      const auto gn = std::ranges::find_if(results, [](const ToyRunResult& r) { return r.method == "gradnorm"; });
      if (gn == results.end() || !gn->failed.empty()) {  // no E_t[w_i(t)] to train with
        ToyRunResult skipped;
        skipped.method = method;
        skipped.failed = "not run: it trains with the mean weights of a gradnorm run, which did not finish";
        results.push_back(std::move(skipped));
        if (done) done(results.back());
        continue;
      }
      config.weighting.static_weights = gn->mean_weights;
    }
    ToyRunConfig c = config;
    const Progress progress = prepare ? prepare(c) : Progress{};
    results.push_back(run_toy(data, c, progress));
    if (done) done(results.back());
    if (results.back().stopped) break;
  }
  return results;
}

}  // namespace gn::toy
