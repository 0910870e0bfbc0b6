#include "apps/toy/experiment.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "core/rng.h"
#include "multitask/model.h"
#include "multitask/step.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/lr_schedule.h"
#include "nn/sgd.h"

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

std::vector<double> test_losses(MultitaskModel& model, const ToySplit& test) {
  NoGradGuard no_grad;
  const auto preds = model.forward_all(test.x);
  std::vector<double> out;
  for (std::size_t i = 0; i < preds.size(); ++i) out.push_back(mse_loss(preds[i], test.y[i]).item());
  return out;
}

void print_trace(const multitask::StepStats& s) {
  auto v = [](const std::vector<double>& x) { return fmt::format("{::.6g}", x); };
  fmt::print("--- step {} ---\n", s.step);
  fmt::print("  L_i                 {}\n", v(s.losses));
  fmt::print("  L_i(0)              {}\n", v(s.initial_losses));
  fmt::print("  Ltilde_i = L/L(0)   {}\n", v(s.loss_ratios));
  fmt::print("  r_i                 {}\n", v(s.inverse_rates));
  fmt::print("  g_i = |grad_W L_i|  {}\n", v(s.grad_norms));
  fmt::print("  G_i = w_i g_i       {}\n", v(s.weighted_norms));
  fmt::print("  target_i            {}\n", v(s.targets));
  fmt::print("  Lgrad               {:.6g}\n", s.lgrad);
  fmt::print("  dLgrad/dw_i         {}\n", v(s.weight_grads));
  fmt::print("  w before            {}\n", v(s.weights));
  fmt::print("  w after optimizer   {}\n", v(s.weights_stepped));
  fmt::print("  w renormalised      {}  (sum {:.6g})\n", v(s.next_weights),
             std::accumulate(s.next_weights.begin(), s.next_weights.end(), 0.0));
}

}  // namespace

namespace {

// A split moved to the device once; each epoch it is shuffled there (one gather), so a batch is a
// contiguous slice: no per-step copy and no per-step host transfer.
struct DeviceSplit {
  Tensor x;
  std::vector<Tensor> y;
};

DeviceSplit to_device(const ToySplit& s, Device d) {
  DeviceSplit out{s.x.to(d), {}};
  for (const auto& y : s.y) out.y.push_back(y.to(d));
  return out;
}

void shuffle_into(const DeviceSplit& src, const Tensor& order, DeviceSplit& dst) {
  auto gather = [&](const Tensor& from, Tensor& to) {
    if (!to.defined()) to = Tensor::empty(from.shape(), from.dtype(), from.device());
    dispatch::gather_rows(from.device(), from.shape()[0], from.shape()[1], dtype_size(from.dtype()), from.raw_data(),
                          order.data<std::int64_t>(), to.raw_data());
  };
  gather(src.x, dst.x);
  dst.y.resize(src.y.size());
  for (std::size_t i = 0; i < src.y.size(); ++i) gather(src.y[i], dst.y[i]);
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
  std::unique_ptr<nn::Optimizer> opt;
  if (c.optimizer == "adam")
    opt = std::make_unique<nn::Adam>(model->parameters(), c.lr);
  else if (c.optimizer == "sgd")
    opt = std::make_unique<nn::SGD>(model->parameters(), c.lr, 0.9);
  else
    GN_FAIL("--optimizer '{}' is not one of adam, sgd", c.optimizer);
  std::unique_ptr<nn::StepLR> schedule;
  if (c.lr_decay_steps > 0) schedule = std::make_unique<nn::StepLR>(*opt, c.lr_decay_steps, c.lr_decay);
  multitask::MultitaskStep stepper(*model, *weighting, *opt);

  const DeviceSplit train = to_device(data.train, c.device);
  DeviceSplit test_on_device = to_device(data.test, c.device);
  const ToySplit test{std::move(test_on_device.x), std::move(test_on_device.y)};
  ToyRunResult r;
  r.method = c.method;
  r.initial_test_losses = test_losses(*model, test);  // test losses are read to the host: log steps only
  auto log_row = [&](std::int64_t step, const std::vector<double>& w, const multitask::StepStats* s) {
    MetricRow row{step,
                  0,
                  w,
                  s ? s->losses : std::vector<double>(T, NAN),
                  test_losses(*model, test),
                  s && !s->grad_norms.empty() ? s->grad_norms : std::vector<double>(T, NAN)};
    for (int i = 0; i < T; ++i) row.test_loss_ratio_sum += row.test_losses[i] / r.initial_test_losses[i];
    r.rows.push_back(std::move(row));
  };
  log_row(0, stepper.current_weights(), nullptr);

  Generator batch_gen(c.batch_seed);
  std::vector<std::int64_t> order(static_cast<std::size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  std::int64_t cursor = N;  // forces a shuffle before the first batch
  DeviceSplit shuffled;
  std::vector<Tensor> y(static_cast<std::size_t>(T));

  std::vector<double> step_ms;
  step_ms.reserve(static_cast<std::size_t>(c.steps));
  for (std::int64_t t = 0; t < c.steps; ++t) {
    if (cursor + c.batch > N) {  // new epoch: Fisher-Yates with the seeded generator, then one gather
      for (std::int64_t k = N - 1; k > 0; --k) std::swap(order[k], order[batch_gen.next_u64() % (k + 1)]);
      shuffle_into(train, Tensor::from_labels(order, {N}, c.device), shuffled);
      cursor = 0;
    }
    const Tensor x = shuffled.x.slice(cursor, cursor + c.batch);
    for (int i = 0; i < T; ++i) y[i] = shuffled.y[i].slice(cursor, cursor + c.batch);
    cursor += c.batch;

    const bool log_now = (t + 1) % c.log_every == 0 || t + 1 == c.steps;
    const bool trace_now = t < c.trace && c.method == "gradnorm";
    const auto t0 = std::chrono::steady_clock::now();
    const multitask::StepStats stats = stepper.step(x, y, log_now || trace_now);
    synchronize(c.device);  // the timer measures finished work, not queued launches (a no-op on the CPU)
    step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (schedule) schedule->step();
    if (trace_now) print_trace(stats);
    if (log_now) log_row(t + 1, stepper.current_weights(), &stats);
    if (progress && ((t + 1) % 50 == 0 || t + 1 == c.steps)) progress(t + 1, c.steps);
  }
  r.final_weights = stepper.current_weights();
  r.mean_weights = stepper.mean_weights();
  r.final_test_losses = r.rows.back().test_losses;
  r.test_loss_ratio_sum = r.rows.back().test_loss_ratio_sum;
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    r.step_ms_median = step_ms[step_ms.size() / 2];
  }
  return r;
}

}  // namespace gn::toy
