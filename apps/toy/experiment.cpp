#include "apps/toy/experiment.h"

#include <cmath>

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
  const app::TrainerConfig tc{
      .steps = c.steps, .log_every = c.log_every, .trace_steps = c.method == "gradnorm" ? c.trace : 0};
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
    for (int i = 0; i < T; ++i) row.test_loss_ratio_sum += row.test_losses[i] / r.initial_test_losses[i];
    r.rows.push_back(std::move(row));
  };
  trainer.hooks.on_progress = progress;
  r.step_ms_median = trainer.run().step_ms_median;
  r.final_weights = trainer.stepper().current_weights();
  r.mean_weights = trainer.stepper().mean_weights();
  r.final_test_losses = r.rows.back().test_losses;
  r.test_loss_ratio_sum = r.rows.back().test_loss_ratio_sum;
  return r;
}

}  // namespace gn::toy
