// GradNorm's update: closed-form weight gradient vs finite differences, invariants, alpha = 0 balancing,
// L_i(0) policies, error cases.
#include "multitask/gradnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/allocator.h"
#include "core/rng.h"
#include "kernels/cpu/gradnorm_update.h"
#include "model_fixture.h"
#include "multitask/step.h"
#include "multitask/uncertainty.h"
#include "nn/sgd.h"

namespace gn {
namespace {

using namespace testing_support;

// Lgrad(w) with the targets held at the values computed at w0 (the paper differentiates only through G).
double lgrad_fixed_targets(const std::vector<double>& w, const std::vector<double>& g,
                           const std::vector<double>& target) {
  double s = 0;
  for (std::size_t i = 0; i < w.size(); ++i) s += std::abs(w[i] * g[i] - target[i]);
  return s;
}

TEST(GradNormUpdate, WeightGradientMatchesFiniteDifferences) {
  Generator gen(11);
  for (int T : {1, 2, 3, 10}) {
    std::vector<double> L(T), L0(T), g(T), w(T), G(T);
    for (int i = 0; i < T; ++i) {
      L[i] = 0.1 + gen.uniform();
      L0[i] = 0.5 + gen.uniform();
      g[i] = 0.01 + 5 * gen.uniform();
      w[i] = 0.2 + gen.uniform();
      G[i] = w[i] * g[i];
    }
    std::vector<double> ratio(T), r(T), target(T), dw(T);
    const double lgrad = cpu::gradnorm_weight_grad(T, L.data(), L0.data(), G.data(), w.data(), 0.7,
                                                   {ratio.data(), r.data(), target.data(), dw.data()});
    EXPECT_NEAR(lgrad, lgrad_fixed_targets(w, g, target), 1e-12);
    for (int i = 0; i < T; ++i) {
      const double h = 1e-7;
      auto wp = w, wm = w;
      wp[i] += h;
      wm[i] -= h;
      const double fd = (lgrad_fixed_targets(wp, g, target) - lgrad_fixed_targets(wm, g, target)) / (2 * h);
      EXPECT_NEAR(dw[i], fd, 1e-6 * (1 + std::abs(fd))) << "T=" << T << " task " << i;
    }
    // Definitions: r_i = Ltilde_i / mean(Ltilde), target_i = mean(G) r_i^alpha.
    const double mean_ratio = std::accumulate(ratio.begin(), ratio.end(), 0.0) / T;
    const double mean_G = std::accumulate(G.begin(), G.end(), 0.0) / T;
    for (int i = 0; i < T; ++i) {
      EXPECT_NEAR(ratio[i], L[i] / L0[i], 1e-14);
      EXPECT_NEAR(r[i], ratio[i] / mean_ratio, 1e-14);
      EXPECT_NEAR(target[i], mean_G * std::pow(r[i], 0.7), 1e-12);
    }
  }
}

TEST(GradNormUpdate, RenormaliseKeepsSumAndPositivity) {
  std::vector<double> w{-0.3, 0.0, 2.5, 1.0};
  cpu::renormalize_weights(4, w.data(), 1e-4);
  EXPECT_NEAR(std::accumulate(w.begin(), w.end(), 0.0), 4.0, 1e-12);
  for (double v : w) EXPECT_GT(v, 0.0);
  std::vector<double> bad{1.0, NAN};
  EXPECT_THROW(cpu::renormalize_weights(2, bad.data(), 1e-4), Error);
}

// Every step: sum w = T, every w_i > 0 and finite (the training is on a tiny model, so 300 steps are quick).
TEST(GradNormUpdate, InvariantsHoldEveryStep) {
  const TinyProblem p;
  auto model = tiny_model(p, 1);
  multitask::GradNormOptions opt;
  opt.alpha = 1.5;
  opt.lr = 0.1;  // large, so weights get pushed hard against the floor
  multitask::GradNormWeighting w(p.tasks, opt);
  nn::SGD sgd(model->parameters(), 1e-3);
  multitask::MultitaskStep stepper(*model, w, sgd);
  for (int t = 0; t < 300; ++t) {
    const TinyBatch b = tiny_batch(p, t % 7);
    const auto s = stepper.step(b.x, b.y);
    double sum = 0;
    for (double v : s.next_weights) {
      ASSERT_TRUE(std::isfinite(v)) << "step " << t;
      ASSERT_GT(v, 0.0) << "step " << t;
      sum += v;
    }
    ASSERT_NEAR(sum, p.tasks, 1e-9) << "step " << t;
  }
}

// alpha = 0 with the network frozen: GradNorm pins every G_i to the common mean.
TEST(GradNormUpdate, AlphaZeroWithFrozenNetworkEqualisesNorms) {
  const TinyProblem p;
  auto model = tiny_model(p, 2);
  multitask::GradNormOptions opt;
  opt.alpha = 0.0;
  multitask::GradNormWeighting w(p.tasks, opt);
  nn::SGD frozen(model->parameters(), 1.0);
  frozen.set_lr(0.0);
  multitask::MultitaskStep stepper(*model, w, frozen);
  const TinyBatch b = tiny_batch(p, 3);
  auto spread = [](const std::vector<double>& G) {
    return *std::max_element(G.begin(), G.end()) / *std::min_element(G.begin(), G.end());
  };
  const double initial = spread(stepper.step(b.x, b.y).weighted_norms);
  ASSERT_GT(initial, 10.0) << "targets of scales 1, 10, 100 should start far from balanced";
  // The L1 loss with Adam makes w hover around the balance point by about one lr; the time average of
  // G over the last steps shows where it settles.
  multitask::StepStats last;
  std::vector<double> mean_G(p.tasks, 0.0);
  for (int t = 0; t < 2000; ++t) {
    last = stepper.step(b.x, b.y);
    if (t >= 1800)
      for (int i = 0; i < p.tasks; ++i) mean_G[i] += last.weighted_norms[i] / 200;
  }
  EXPECT_LT(spread(mean_G), 1.05);
  // The balanced weights are proportional to 1 / g_i.
  EXPECT_GT(last.weights[0], last.weights[1]);
  EXPECT_GT(last.weights[1], last.weights[2]);
}

TEST(InitialLoss, PoliciesAndParsing) {
  auto first = multitask::InitialLoss::parse("first-step");
  first.observe({2.0, 4.0});
  EXPECT_EQ(first.observe({1.0, 1.0}), (std::vector<double>{2.0, 4.0})) << "L(0) must never be overwritten";
  auto mean = multitask::InitialLoss::parse("mean-of-first:2");
  mean.observe({2.0, 4.0});
  mean.observe({4.0, 8.0});
  EXPECT_EQ(mean.observe({100.0, 100.0}), (std::vector<double>{3.0, 6.0}));
  auto given = multitask::InitialLoss::parse("given:2.302585,1.5");
  EXPECT_NEAR(given.observe({9.0, 9.0})[0], 2.302585, 1e-12);
  EXPECT_THROW(multitask::InitialLoss::parse("mean-of-first:0"), Error);
  EXPECT_THROW(multitask::InitialLoss::parse("given:1,x"), Error);
  EXPECT_THROW(multitask::InitialLoss::parse("bogus"), Error);
  EXPECT_THROW(given.observe({1.0}), Error);
}

// Uncertainty weighting: L_total = sum exp(-s_i) L_i + s_i, ds_i = 1 - exp(-s_i) L_i; Adam's first step
// moves each s_i by -lr * sign(ds_i) (bias-corrected m/sqrt(v) = sign).
TEST(Uncertainty, FollowsItsFormula) {
  multitask::UncertaintyWeighting u(3, 0.025);
  multitask::StepStats s;
  s.losses = {0.5, 1.0, 4.0};
  u.update(s);
  EXPECT_NEAR(s.weight_grads[0], 0.5, 1e-12);
  EXPECT_NEAR(s.weight_grads[1], 0.0, 1e-12);
  EXPECT_NEAR(s.weight_grads[2], -3.0, 1e-12);
  EXPECT_NEAR(u.log_variances()[0], -0.025, 1e-9);
  EXPECT_NEAR(u.log_variances()[1], 0.0, 1e-9);
  EXPECT_NEAR(u.log_variances()[2], 0.025, 1e-9);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(u.weights()[i], std::exp(-u.log_variances()[i]), 1e-15);
}

TEST(GradNormUpdate, RejectsBadOptionsAndDivergence) {
  multitask::GradNormOptions bad;
  bad.alpha = -1;
  EXPECT_THROW(multitask::GradNormWeighting(2, bad), Error);
  bad = {};
  bad.optimizer = "lbfgs";
  EXPECT_THROW(multitask::GradNormWeighting(2, bad), Error);
  multitask::GradNormWeighting w(2);
  multitask::StepStats s;
  s.losses = {1.0, NAN};
  s.weighted_norms = {1.0, 1.0};
  EXPECT_THROW(w.update(s), Error);
}

// The step allocates no tensor memory once warmed up (the caching allocator serves every request).
TEST(MultitaskStep, NoAllocationInSteadyState) {
  const TinyProblem p;
  auto model = tiny_model(p, 4);
  multitask::GradNormWeighting w(p.tasks);
  nn::SGD sgd(model->parameters(), 1e-3);
  multitask::MultitaskStep stepper(*model, w, sgd);
  const TinyBatch b = tiny_batch(p, 1);
  for (int t = 0; t < 3; ++t) stepper.step(b.x, b.y);
  const auto before = allocator_stats(cpu_device()).system_allocs;
  for (int t = 0; t < 20; ++t) stepper.step(b.x, b.y);
  EXPECT_EQ(allocator_stats(cpu_device()).system_allocs, before);
}

}  // namespace
}  // namespace gn

namespace gn {
namespace {

// The CPU reference of the device update (kernels/cpu/gradnorm_update.h) is the same sequence as the
// host GradNormWeighting, so the CUDA tests that compare against it check the real thing.
TEST(GradNormUpdate, DeviceReferenceMatchesHostWeighting) {
  const int T = 4;
  multitask::GradNormOptions opt;
  opt.alpha = 0.8;
  multitask::GradNormWeighting host(T, opt);
  cpu::GradNormReference ref(T);
  struct {
    double alpha, lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, min_weight;
  } o{opt.alpha, opt.lr, 0.9, 0.999, 1e-8, opt.min_weight};
  std::vector<double> w(T, 1.0);
  for (int k = 0; k < 10; ++k) {
    multitask::StepStats s;
    s.losses.resize(T);
    s.weighted_norms.resize(T);
    for (int i = 0; i < T; ++i) {
      s.losses[i] = (1.0 + i) * std::exp(-0.1 * (1 + i) * k);
      s.weighted_norms[i] = host.weights()[i] * (0.5 + i);
    }
    ref.step(s.losses, s.weighted_norms, w, o, k + 1);
    host.update(s);
    for (int i = 0; i < T; ++i) EXPECT_NEAR(host.weights()[i], w[i], 1e-14) << "step " << k << " task " << i;
  }
  EXPECT_GT(std::abs(w[0] - 1.0), 1e-3);  // the weights really moved
}

}  // namespace
}  // namespace gn
