// GradNorm's update: closed-form weight gradient vs finite differences, invariants, alpha = 0 balancing,
// L_i(0) policies, error cases.
#include "multitask/gradnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/allocator.h"
#include "core/rng.h"
#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cpu/optim.h"
#include "model_fixture.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
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

// Feeds one update with host values (CPU tensors): losses L_i and weighted norms G_i.
void feed(multitask::LossWeighting& w, const std::vector<double>& L, const std::vector<double>& G = {}) {
  const auto T = static_cast<std::int64_t>(L.size());
  std::vector<double> sq(G.size());
  for (std::size_t i = 0; i < G.size(); ++i) sq[i] = G[i] * G[i];
  multitask::TaskSignals s;
  s.step = w.updates();
  s.losses = Tensor::from_vector(L, {T}, DType::Float64);
  if (!G.empty()) s.sq_norms = Tensor::from_vector(sq, {T}, DType::Float64);
  w.update(s);
}

TEST(InitialLoss, Parsing) {
  EXPECT_EQ(multitask::InitialLoss::parse("first-step").mode(), multitask::InitialLoss::Mode::FirstStep);
  const auto mean = multitask::InitialLoss::parse("mean-of-first:3");
  EXPECT_EQ(mean.mode(), multitask::InitialLoss::Mode::MeanOfFirst);
  EXPECT_EQ(mean.steps(), 3);
  EXPECT_EQ(multitask::InitialLoss::parse("given:2.302585,1.5").values(), (std::vector<double>{2.302585, 1.5}));
  EXPECT_THROW(multitask::InitialLoss::parse("mean-of-first:0"), Error);
  EXPECT_THROW(multitask::InitialLoss::parse("given:1,x"), Error);
  EXPECT_THROW(multitask::InitialLoss::parse("given:0"), Error);
  EXPECT_THROW(multitask::InitialLoss::parse("given:"), Error);    // found by fuzz/initial_loss.cpp
  EXPECT_THROW(multitask::InitialLoss::parse("given:1,"), Error);  // a trailing empty value
  EXPECT_THROW(multitask::InitialLoss::parse("bogus"), Error);
}

// The L_i(0) policies, as the GradNorm update applies them.
TEST(InitialLoss, PoliciesThroughTheUpdate) {
  auto l0_after = [](const char* spec, const std::vector<std::vector<double>>& losses) {
    multitask::GradNormOptions o;
    o.initial_loss = multitask::InitialLoss::parse(spec);
    multitask::GradNormWeighting w(2, o);
    for (const auto& L : losses) feed(w, L, {1.0, 1.0});
    return w.read_diagnostics().at("initial_losses");
  };
  EXPECT_EQ(l0_after("first-step", {{2.0, 4.0}, {1.0, 1.0}}), (std::vector<double>{2.0, 4.0}))
      << "L(0) must never be overwritten";
  EXPECT_EQ(l0_after("mean-of-first:2", {{2.0, 4.0}, {4.0, 8.0}, {100.0, 100.0}}), (std::vector<double>{3.0, 6.0}));
  EXPECT_EQ(l0_after("given:2.5,1.5", {{9.0, 9.0}}), (std::vector<double>{2.5, 1.5}));
  multitask::GradNormOptions wrong_count;
  wrong_count.initial_loss = multitask::InitialLoss::parse("given:1");
  EXPECT_THROW(multitask::GradNormWeighting(2, wrong_count), Error) << "found when the method is built";
  multitask::GradNormWeighting zero_loss(2);
  EXPECT_THROW(feed(zero_loss, {0.0, 1.0}, {1.0, 1.0}), Error) << "L_i(0) = 0 would divide by zero";
}

// Uncertainty weighting: L_total = sum exp(-s_i) L_i + s_i, ds_i = 1 - exp(-s_i) L_i; Adam's first step
// moves each s_i by -lr * sign(ds_i) (bias-corrected m/sqrt(v) = sign).
TEST(Uncertainty, FollowsItsFormula) {
  multitask::UncertaintyWeighting u(3, 0.025);
  feed(u, {0.5, 1.0, 4.0});
  const auto d = u.read_diagnostics();
  EXPECT_NEAR(d.at("weight_grads")[0], 0.5, 1e-12);
  EXPECT_NEAR(d.at("weight_grads")[1], 0.0, 1e-12);
  EXPECT_NEAR(d.at("weight_grads")[2], -3.0, 1e-12);
  const auto s = d.at("log_variances"), w = u.read_weights();
  EXPECT_NEAR(s[0], -0.025, 1e-9);
  EXPECT_NEAR(s[1], 0.0, 1e-9);
  EXPECT_NEAR(s[2], 0.025, 1e-9);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(w[i], std::exp(-s[i]), 1e-15);
}

TEST(GradNormUpdate, RejectsBadOptionsAndDivergence) {
  multitask::GradNormOptions bad;
  bad.alpha = -1;
  EXPECT_THROW(multitask::GradNormWeighting(2, bad), Error);
  bad = {};
  bad.optimizer = "lbfgs";
  EXPECT_THROW(multitask::GradNormWeighting(2, bad), Error);
  multitask::GradNormWeighting w(2);
  try {
    feed(w, {1.0, NAN}, {1.0, 1.0});
    FAIL() << "a NaN loss must stop the update";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gradnorm: training diverged"), std::string::npos) << e.what();
  }
  EXPECT_EQ(w.read_weights(), (std::vector<double>{1.0, 1.0})) << "a failed update commits nothing";
}

// A method meets signals it cannot use: the error names it.
TEST(Weighting, WrongDeviceOrShapeFailsWithItsName) {
  for (const char* method : {"gradnorm", "uncertainty", "equal"}) {
    multitask::WeightingConfig cfg;
    auto w = multitask::make_weighting(method, 2, cfg);
    auto expect_named = [&](auto&& call, const char* what) {
      try {
        call();
        ADD_FAILURE() << method << ": " << what << " was accepted";
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(std::string(method) + ":", 0), 0u) << e.what();
      }
    };
    expect_named([&] { feed(*w, {1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}); }, "3 losses for 2 tasks");
    if (!cuda_available()) {
      expect_named([&] { w->to(cuda_device(), DType::Float32); }, "a CUDA device on a machine without one");
    } else {
      w->to(cuda_device(), DType::Float32);
      expect_named([&] { feed(*w, {1.0, 2.0}, {1.0, 1.0}); }, "CPU signals for a method on CUDA");
    }
  }
}

// The weighting's update is the closed-form sequence step by step: the weight gradient, Adam, the floor
// and renormalisation (kernels/cpu/gradnorm_update.h's pieces, called here one by one).
TEST(GradNormUpdate, WeightingFollowsTheSequence) {
  const int T = 4;
  multitask::GradNormOptions opt;
  opt.alpha = 0.8;
  multitask::GradNormWeighting gn(T, opt);
  std::vector<double> w(T, 1.0), L0, m(T, 0.0), v(T, 0.0), ratio(T), rate(T), target(T), dw(T);
  for (int k = 0; k < 10; ++k) {
    std::vector<double> L(T), G(T);
    for (int i = 0; i < T; ++i) {
      L[i] = (1.0 + i) * std::exp(-0.1 * (1 + i) * k);
      G[i] = w[i] * (0.5 + i);
    }
    if (L0.empty()) L0 = L;
    cpu::gradnorm_weight_grad(T, L.data(), L0.data(), G.data(), w.data(), opt.alpha,
                              {ratio.data(), rate.data(), target.data(), dw.data()});
    cpu::adam_step<double>(T, w.data(), dw.data(), m.data(), v.data(), opt.lr, 0.9, 0.999, 1e-8, 0.0, k + 1);
    cpu::renormalize_weights<double>(T, w.data(), opt.min_weight);
    feed(gn, L, G);
    const auto got = gn.read_weights();
    for (int i = 0; i < T; ++i) EXPECT_EQ(got[i], w[i]) << "update " << k << " task " << i;
    EXPECT_EQ(gn.read_diagnostics().at("targets"), target);
  }
  EXPECT_GT(std::abs(w[0] - 1.0), 1e-3);  // the weights really moved
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
