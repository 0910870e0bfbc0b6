// The GradNorm CPU kernels against naive float64 loops at awkward sizes, outputs poisoned first; the weight
// update (cpu::gradnorm_update) against a step-by-step float64 oracle.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"
#include "kernels/error.h"
#include "tests/kernels/gradnorm_update_cases.h"

namespace gn {
namespace {

constexpr double kPoison = std::numeric_limits<double>::quiet_NaN();

std::vector<float> random_floats(Generator& gen, std::int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<float>(gen.normal());
  return v;
}

TEST(TaskNorms, MatchesNaiveAtAwkwardSizes) {
  Generator gen(1);
  for (std::int64_t n : {0, 1, 31, 32, 33, 1023, (1 << 20) + 7})
    for (int T : {1, 2, 3, 16}) {
      if (n > 4096 && T > 2) continue;  // keep the test quick; large n is covered at T = 1, 2
      std::vector<std::vector<float>> weight(T), bias(T);
      std::vector<cpu::TaskPiece<float>> pieces;
      for (int t = 0; t < T; ++t) {
        weight[t] = random_floats(gen, n);
        bias[t] = random_floats(gen, 1 + t);
        pieces.push_back({t, weight[t].data(), n});
        pieces.push_back({t, bias[t].data(), 1 + t});
      }
      std::vector<double> out(T, kPoison);
      auto flags = std::make_unique<bool[]>(T);
      for (int t = 0; t < T; ++t) flags[t] = true;
      cpu::per_task_sq_norms<float>(T, pieces, out.data(), flags.get());
      for (int t = 0; t < T; ++t) {
        double ref = 0;
        for (float x : weight[t]) ref += double(x) * x;
        for (float x : bias[t]) ref += double(x) * x;
        EXPECT_NEAR(out[t], ref, 1e-12 * (1 + ref)) << "n=" << n << " T=" << T << " t=" << t;
        EXPECT_FALSE(flags[t]);
      }
    }
}

TEST(TaskNorms, FlagsNonFiniteAndIsDeterministic) {
  Generator gen(2);
  auto a = random_floats(gen, 1000), b = random_floats(gen, 1000);
  b[17] = std::numeric_limits<float>::infinity();
  std::vector<cpu::TaskPiece<float>> pieces{{0, a.data(), 1000}, {1, b.data(), 1000}};
  double out1[2], out2[2];
  bool f[2];
  cpu::per_task_sq_norms<float>(2, pieces, out1, f);
  EXPECT_FALSE(f[0]);
  EXPECT_TRUE(f[1]);
  cpu::per_task_sq_norms<float>(2, pieces, out2, f);
  EXPECT_EQ(std::memcmp(&out1[0], &out2[0], sizeof(double)), 0) << "two runs must agree bit for bit";
  std::vector<cpu::TaskPiece<float>> bad{{2, a.data(), 10}};
  EXPECT_THROW(cpu::per_task_sq_norms<float>(2, bad, out1, f), Error);
}

TEST(CombineTaskBlocks, MatchesNaive) {
  Generator gen(3);
  for (std::int64_t B : {1, 33})
    for (int T : {1, 2, 10})
      for (std::int64_t D : {1, 31, 100}) {
        std::vector<double> deltas(B * T * D), w(T), out(B * D, kPoison);
        for (auto& x : deltas) x = gen.normal();
        for (auto& x : w) x = gen.uniform() + 0.1;
        cpu::combine_task_blocks<double>(B, T, D, deltas.data(), w.data(), out.data());
        for (std::int64_t b = 0; b < B; ++b)
          for (std::int64_t j = 0; j < D; ++j) {
            double ref = 0;
            for (int t = 0; t < T; ++t) ref += w[t] * deltas[b * T * D + t * D + j];
            ASSERT_NEAR(out[b * D + j], ref, 1e-12);
          }
        cpu::combine_task_blocks<double>(B, T, D, deltas.data(), nullptr, out.data());  // null w: plain sum
        double ref = 0;
        for (int t = 0; t < T; ++t) ref += deltas[t * D];
        EXPECT_NEAR(out[0], ref, 1e-12);
      }
}

TEST(MultitaskMse, LossesAndWeightedGradientMatchNaive) {
  Generator gen(4);
  const int T = 3;
  for (std::int64_t n : {1, 33, 1023}) {
    std::vector<std::vector<double>> p(T), y(T), g(T);
    std::vector<const double*> pp, yp;
    std::vector<double*> gp;
    const std::vector<double> w{0.5, 1.0, 2.0};
    for (int t = 0; t < T; ++t) {
      p[t].resize(n);
      y[t].resize(n);
      g[t].assign(n, kPoison);
      for (std::int64_t j = 0; j < n; ++j) p[t][j] = gen.normal(), y[t][j] = 10 * gen.normal();
      pp.push_back(p[t].data());
      yp.push_back(y[t].data());
      gp.push_back(g[t].data());
    }
    std::vector<double> losses(T, kPoison);
    cpu::multitask_mse<double>(T, n, pp.data(), yp.data(), w.data(), losses.data(), gp.data());
    for (int t = 0; t < T; ++t) {
      double ref = 0;
      for (std::int64_t j = 0; j < n; ++j) ref += (p[t][j] - y[t][j]) * (p[t][j] - y[t][j]);
      EXPECT_NEAR(losses[t], ref / n, 1e-12 * (1 + ref / n));
      for (std::int64_t j = 0; j < n; ++j) ASSERT_NEAR(g[t][j], w[t] * 2 * (p[t][j] - y[t][j]) / n, 1e-12);
    }
  }
}

}  // namespace
}  // namespace gn

namespace gn {
namespace {

// The float64 reference used by the CUDA tests and the lab equals the double kernel on widened inputs.
TEST(MultitaskMse, Float64ReferenceMatchesDoubleKernel) {
  Generator gen(6);
  const std::int64_t n = 257;
  std::vector<float> p(n), y(n), g(n);
  for (std::int64_t j = 0; j < n; ++j) p[j] = static_cast<float>(gen.normal()), y[j] = static_cast<float>(gen.normal());
  const float w = 1.5f;
  const float* pp = p.data();
  const float* yp = y.data();
  double loss = kPoison;
  std::vector<double> ref_g(n, kPoison);
  double* gp = ref_g.data();
  cpu::multitask_mse_float64<float>(1, n, &pp, &yp, &w, &loss, &gp);
  double expect = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    const double d = double(p[j]) - double(y[j]);
    expect += d * d;
    EXPECT_NEAR(ref_g[j], 1.5 * 2 * d / n, 1e-15);
  }
  EXPECT_NEAR(loss, expect / n, 1e-14);
}

}  // namespace
}  // namespace gn

// ---- the GradNorm weight update, CPU kernel (kernels/cpu/gradnorm_update.h) ----------------------------
//
// cpu::gradnorm_update against a step-by-step float64 oracle written here from the building blocks
// (cpu::gradnorm_weight_grad, cpu::gradnorm_param_grad, cpu::adam_step / cpu::sgd_step,
// cpu::renormalize_weights). The oracle calls
// the same compiled functions in the same order on the same values, and does by hand only correctly
// rounded single operations (sqrt, +, /) and the same libm calls (exp, log) for the log and softmax
// parameterisations, so the two must agree bit for bit: any tolerance would hide a reordered sum or a
// missed step. The log and softmax gradients are checked against finite differences separately.

namespace gn {
namespace {

constexpr double kEps64 = std::numeric_limits<double>::epsilon();

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

// One state block (kernels/gradnorm_update_state.h) in host memory, as its owners hold it: w = 1, the
// rest zero; the outputs poisoned with NaN, so an output the kernel forgets to write shows.
struct HostGradNorm {
  int T;
  std::vector<double> block;
  std::int64_t status = kGradNormOk;  // an input too: a failure is sticky
  explicit HostGradNorm(int tasks) : T(tasks), block(static_cast<std::size_t>(gradnorm_state_doubles(tasks)), 0.0) {
    std::fill(block.begin(), block.begin() + T, 1.0);
    std::fill(block.begin() + gradnorm_persistent_doubles(T), block.end(), kPoison);
  }
  GradNormBuffers b() { return gradnorm_buffers(T, block.data(), &status); }
  // The state (w, L_i(0), the loss sum, m, v, s, the floor count): what a failed update must not touch.
  std::vector<double> state() const { return {block.begin(), block.begin() + gradnorm_persistent_doubles(T)}; }
};

void expect_same_bits(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!same_bits(got[i], want[i])) {
      ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << ", want exactly " << want[i];
      return;
    }
}
std::vector<double> first(const double* p, int n) { return {p, p + n}; }

// The oracle: the update of kernels/gradnorm_update_state.h written out step by step (success path).
struct OracleGradNorm {
  int T;
  std::vector<double> w, l0, sum, m, v, s, ratio, rate, target, dw, dp, stepped, G;
  double lgrad = 0, floor_hits = 0;
  explicit OracleGradNorm(int tasks)
      : T(tasks),
        w(tasks, 1.0),
        l0(tasks, 0.0),
        sum(tasks, 0.0),
        m(tasks, 0.0),
        v(tasks, 0.0),
        s(tasks, 0.0),
        ratio(tasks),
        rate(tasks),
        target(tasks),
        dw(tasks),
        dp(tasks),
        stepped(tasks),
        G(tasks) {}
  void step(const std::vector<double>& L, const std::vector<double>& norms, const GradNormUpdateOptions& o,
            std::int64_t update) {
    for (int i = 0; i < T; ++i) G[i] = o.squared_norms ? std::sqrt(norms[i]) : norms[i];
    if (update <= o.initial_loss_steps)
      for (int i = 0; i < T; ++i) {
        sum[i] += L[i];
        l0[i] = sum[i] / static_cast<double>(update);
      }
    lgrad = cpu::gradnorm_weight_grad(T, L.data(), l0.data(), G.data(), w.data(), o.alpha,
                                      {ratio.data(), rate.data(), target.data(), dw.data()});
    // The optimised parameter's gradient: the chain rule through w = p, exp(s) or T softmax(s).
    const bool linear = o.param == GradNormParam::Linear;
    cpu::gradnorm_param_grad(T, o.param, w.data(), dw.data(), dp.data());
    std::vector<double> p = linear ? w : s;
    if (o.optimizer == GradNormOptimizer::Adam)
      cpu::adam_step<double>(T, p.data(), dp.data(), m.data(), v.data(), o.lr, o.beta1, o.beta2, o.eps, 0.0, update);
    else
      cpu::sgd_step<double>(T, p.data(), dp.data(), nullptr, o.lr, 0.0, 0.0, false);
    if (linear) {
      stepped = p;
      for (int i = 0; i < T; ++i) floor_hits += p[i] < o.min_weight;
      w = p;
      cpu::renormalize_weights<double>(T, w.data(), o.min_weight);
      return;
    }
    const double top = *std::max_element(p.begin(), p.end());
    double total = 0;
    for (int i = 0; i < T; ++i) total += std::exp(p[i] - top);
    for (int i = 0; i < T; ++i) {
      w[i] = std::exp(p[i] - top) * T / total;
      stepped[i] = o.param == GradNormParam::Log ? std::exp(p[i]) : w[i];
      s[i] = o.param == GradNormParam::Log ? std::log(w[i]) : p[i];
    }
  }
};

// Step k's inputs: losses decaying at task-dependent rates (always > 0), norms G_i = w_i g_i with g_i varying.
void update_inputs(int T, int k, const double* w, std::vector<double>& L, std::vector<double>& G) {
  L.resize(T);
  G.resize(T);
  for (int i = 0; i < T; ++i) {
    L[i] = (1.0 + i) * std::exp(-0.05 * (1 + i % 5) * k) + 0.01 * std::sin(3.0 * k + i);
    G[i] = w[i] * (0.5 + 0.3 * (i % 7) + 0.2 * std::cos(0.7 * k + i));
  }
}

template <class W>
void check_against_oracle(GradNormOptimizer optimizer, GradNormParam param = GradNormParam::Linear) {
  for (const int T : {1, 2, 3, 5, 16})
    for (const bool squared : {false, true})
      for (const int K : {1, 3}) {
        GradNormUpdateOptions opt;
        opt.optimizer = optimizer;
        opt.param = param;
        opt.alpha = 0.12 + 0.5 * (T % 3);
        opt.squared_norms = squared;
        opt.initial_loss_steps = K;
        HostGradNorm s(T);
        OracleGradNorm ref(T);
        std::vector<W> w_out(T, W(-1));
        for (int k = 1; k <= 30; ++k) {
          std::vector<double> L, G;
          update_inputs(T, k, ref.w.data(), L, G);
          std::vector<double> G_in = G;
          if (squared)
            for (auto& g : G_in) g *= g;
          const GradNormBuffers b = s.b();
          cpu::gradnorm_update<W>(T, L.data(), G_in.data(), nullptr, b, w_out.data(), opt, k);
          ref.step(L, G_in, opt, k);
          ASSERT_EQ(s.status, kGradNormOk);
          expect_same_bits(first(b.weights, T), ref.w, "w");
          expect_same_bits(first(b.initial_losses, T), ref.l0, "L_i(0)");
          expect_same_bits(first(b.initial_loss_sum, T), ref.sum, "loss sum");
          expect_same_bits(first(b.adam_m, T), ref.m, "m");
          expect_same_bits(first(b.adam_v, T), ref.v, "v");
          expect_same_bits(first(b.loss_ratio, T), ref.ratio, "loss ratio");
          expect_same_bits(first(b.inverse_rate, T), ref.rate, "inverse rate");
          expect_same_bits(first(b.target, T), ref.target, "target");
          expect_same_bits(first(b.weight_grad, T), ref.dw, "dLgrad/dw");
          expect_same_bits(first(b.weights_stepped, T), ref.stepped, "stepped w");
          expect_same_bits(first(b.norms, T), ref.G, "norms");
          expect_same_bits(first(b.params, T), ref.s, "s");
          expect_same_bits(first(b.param_grad, T), ref.dp, "dLgrad/dp");
          EXPECT_EQ(*b.floor_hits, ref.floor_hits);
          EXPECT_TRUE(same_bits(*b.lgrad, ref.lgrad)) << *b.lgrad << " vs " << ref.lgrad;
          for (int i = 0; i < T; ++i) {  // weights_out is the master rounded once to W
            const W want = static_cast<W>(ref.w[i]);
            EXPECT_EQ(std::memcmp(&w_out[i], &want, sizeof(W)), 0) << "weights_out[" << i << "]";
          }
          if (optimizer == GradNormOptimizer::Sgd)  // SGD leaves Adam's moments alone
            expect_same_bits(first(b.adam_m, T), std::vector<double>(T, 0.0), "m under SGD");
          if (::testing::Test::HasFailure())
            FAIL() << gradnorm_param_name(param) << " T=" << T << " squared=" << squared << " K=" << K << " update "
                   << k;
        }
      }
}

TEST(GradNormUpdateCpu, MatchesStepByStepFloat64AdamDoubleWeights) {
  check_against_oracle<double>(GradNormOptimizer::Adam);
}
TEST(GradNormUpdateCpu, MatchesStepByStepFloat64AdamFloatWeights) {
  check_against_oracle<float>(GradNormOptimizer::Adam);
}
TEST(GradNormUpdateCpu, MatchesStepByStepFloat64SgdDoubleWeights) {
  check_against_oracle<double>(GradNormOptimizer::Sgd);
}
TEST(GradNormUpdateCpu, MatchesStepByStepFloat64SgdFloatWeights) {
  check_against_oracle<float>(GradNormOptimizer::Sgd);
}
TEST(GradNormUpdateCpu, MatchesStepByStepFloat64LogParam) {
  check_against_oracle<double>(GradNormOptimizer::Adam, GradNormParam::Log);
  check_against_oracle<float>(GradNormOptimizer::Sgd, GradNormParam::Log);
}
TEST(GradNormUpdateCpu, MatchesStepByStepFloat64SoftmaxParam) {
  check_against_oracle<double>(GradNormOptimizer::Adam, GradNormParam::Softmax);
  check_against_oracle<float>(GradNormOptimizer::Sgd, GradNormParam::Softmax);
}

// dLgrad/ds (param_grad) against central differences of Lgrad(s) = sum_i |w_i(s) g_i - target_i|, the
// targets held constant (as GradNorm holds them), with w(s) = exp(s) (log) or T softmax(s) (softmax).
TEST(GradNormUpdateCpu, ParamGradientMatchesFiniteDifferences) {
  const int T = 4;
  const std::vector<double> L{1.0, 0.8, 0.5, 0.9}, L0{1.0, 1.0, 1.0, 1.0}, g{0.7, 1.9, 0.4, 1.2};
  for (const GradNormParam param : {GradNormParam::Log, GradNormParam::Softmax}) {
    HostGradNorm st(T);
    const GradNormBuffers b = st.b();
    const std::vector<double> s0{0.3, -0.2, 0.5, -0.6};
    double total = 0;
    for (double x : s0) total += std::exp(x);
    for (int i = 0; i < T; ++i) {
      b.weights[i] = std::exp(s0[i]) * T / total;  // T softmax(s0): a consistent state for both
      b.params[i] = param == GradNormParam::Log ? std::log(b.weights[i]) : s0[i];
      b.initial_losses[i] = L0[i];
    }
    std::vector<double> G(T), w_out(T);
    for (int i = 0; i < T; ++i) G[i] = b.weights[i] * g[i];
    const std::vector<double> s_at = first(b.params, T);
    GradNormUpdateOptions opt;
    opt.param = param;
    opt.optimizer = GradNormOptimizer::Sgd;
    opt.squared_norms = false;
    opt.initial_loss_steps = 0;
    opt.alpha = 0.8;
    cpu::gradnorm_update<double>(T, L.data(), G.data(), nullptr, b, w_out.data(), opt, 1);
    ASSERT_EQ(st.status, kGradNormOk);
    const std::vector<double> target = first(b.target, T);
    auto lgrad = [&](std::vector<double> s) {
      double sum_e = 0, out = 0;
      for (double x : s) sum_e += std::exp(x);
      for (int i = 0; i < T; ++i) {
        const double w = param == GradNormParam::Log ? std::exp(s[i]) : std::exp(s[i]) * T / sum_e;
        out += std::abs(w * g[i] - target[i]);
      }
      return out;
    };
    const double h = 1e-6;
    for (int j = 0; j < T; ++j) {
      std::vector<double> up = s_at, down = s_at;
      up[j] += h;
      down[j] -= h;
      const double fd = (lgrad(up) - lgrad(down)) / (2 * h);
      EXPECT_NEAR(b.param_grad[j], fd, 1e-6 * (1 + std::abs(fd))) << gradnorm_param_name(param) << " s_" << j;
    }
  }
}

// The floor counter: an SGD step that must overshoot below zero fires the floor once per update here (a
// known count), a small step never does, and log / softmax never do even with the overshooting step.
TEST(GradNormUpdateCpu, FloorHitsAreCountedExactly) {
  const std::vector<double> L{1.0, 1.0}, G{1.0, 3.0};  // targets mean(G) = 2: dLgrad/dw = (-1/w_0, +3/w_1)
  for (const GradNormParam param : {GradNormParam::Linear, GradNormParam::Log, GradNormParam::Softmax}) {
    HostGradNorm s(2);
    GradNormUpdateOptions opt;
    opt.optimizer = GradNormOptimizer::Sgd;
    opt.param = param;
    opt.lr = 0.5;  // linear: w_1 = 1 - 0.5 * 3 = -0.5 < 0, then below zero again from 1e-4-ish
    opt.squared_norms = false;
    std::vector<double> w_out(2);
    const GradNormBuffers b = s.b();
    EXPECT_EQ(*b.floor_hits, 0.0);
    for (int k = 1; k <= 3; ++k) {
      cpu::gradnorm_update<double>(2, L.data(), G.data(), nullptr, b, w_out.data(), opt, k);
      ASSERT_EQ(s.status, kGradNormOk) << gradnorm_param_name(param);
      const double want = param == GradNormParam::Linear ? k : 0;  // linear: exactly task 1, every update
      EXPECT_EQ(*b.floor_hits, want) << gradnorm_param_name(param) << " update " << k;
      EXPECT_GT(b.weights[0], 0.0);
      EXPECT_GT(b.weights[1], 0.0);
      EXPECT_NEAR(b.weights[0] + b.weights[1], 2.0, 4 * kEps64);
    }
    if (param == GradNormParam::Linear) {
      EXPECT_LT(b.weights_stepped[1], opt.min_weight);
    }
  }
}

// One SGD update worked by hand, exact in binary: T = 2, L = L(0) (ratios 1, targets mean(G) = 2),
// G = (1, 3), w = 1: dLgrad/dw = (-1, +3); with lr = 1/8, w - lr dw = (1.125, 0.625), sum 1.75.
TEST(GradNormUpdateCpu, SgdStepByHand) {
  HostGradNorm s(2);
  GradNormUpdateOptions opt;
  opt.optimizer = GradNormOptimizer::Sgd;
  opt.lr = 0.125;
  opt.squared_norms = false;
  const std::vector<double> L{1.0, 1.0}, G{1.0, 3.0};
  std::vector<float> w_out(2);
  const GradNormBuffers b = s.b();
  cpu::gradnorm_update<float>(2, L.data(), G.data(), nullptr, b, w_out.data(), opt, 1);
  ASSERT_EQ(s.status, kGradNormOk);
  EXPECT_EQ(first(b.weight_grad, 2), (std::vector<double>{-1.0, 3.0}));
  EXPECT_EQ(first(b.weights_stepped, 2), (std::vector<double>{1.125, 0.625}));
  EXPECT_EQ(*b.lgrad, 2.0);
  EXPECT_EQ(b.weights[0], 1.125 * 2 / 1.75);
  EXPECT_EQ(b.weights[1], 0.625 * 2 / 1.75);
  EXPECT_EQ(w_out[0], static_cast<float>(1.125 * 2 / 1.75));
  EXPECT_EQ(first(b.adam_m, 2), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(*b.floor_hits, 0.0) << "no weight went below the floor";
}

// initial_loss_steps = 1 (the paper's rule): L_i(0) is the first update's losses, never overwritten.
TEST(GradNormUpdateCpu, FirstStepRuleRecordsInitialLossesOnce) {
  HostGradNorm s(3);
  GradNormUpdateOptions opt;
  opt.squared_norms = false;
  const std::vector<double> G{1.0, 2.0, 3.0};
  std::vector<double> w_out(3);
  const GradNormBuffers b = s.b();
  std::vector<double> L{2.0, 4.0, 8.0};
  cpu::gradnorm_update<double>(3, L.data(), G.data(), nullptr, b, w_out.data(), opt, 1);
  ASSERT_EQ(s.status, kGradNormOk);
  EXPECT_EQ(first(b.initial_losses, 3), L);
  EXPECT_EQ(first(b.loss_ratio, 3), (std::vector<double>{1.0, 1.0, 1.0}));
  L = {1.0, 1.0, 1.0};
  cpu::gradnorm_update<double>(3, L.data(), G.data(), nullptr, b, w_out.data(), opt, 2);
  ASSERT_EQ(s.status, kGradNormOk);
  EXPECT_EQ(first(b.initial_losses, 3), (std::vector<double>{2.0, 4.0, 8.0}));
  EXPECT_EQ(first(b.loss_ratio, 3), (std::vector<double>{0.5, 0.25, 0.125}));
  L = {0.0, 1.0, 1.0};  // after the window a zero loss is a fine loss
  cpu::gradnorm_update<double>(3, L.data(), G.data(), nullptr, b, w_out.data(), opt, 3);
  EXPECT_EQ(s.status, kGradNormOk);
  EXPECT_EQ(first(b.initial_losses, 3), (std::vector<double>{2.0, 4.0, 8.0}));
}

// initial_loss_steps = K: L_i(0) is the running mean of the first K updates' losses, then fixed.
TEST(GradNormUpdateCpu, InitialLossIsMeanOfFirstKUpdates) {
  HostGradNorm s(2);
  GradNormUpdateOptions opt;
  opt.initial_loss_steps = 2;
  const std::vector<double> G{1.0, 4.0};
  std::vector<float> w_out(2);
  const GradNormBuffers b = s.b();
  std::vector<double> L{2.0, 4.0};
  cpu::gradnorm_update<float>(2, L.data(), G.data(), nullptr, b, w_out.data(), opt, 1);
  ASSERT_EQ(s.status, kGradNormOk);
  EXPECT_EQ(first(b.initial_losses, 2), (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ(first(b.initial_loss_sum, 2), (std::vector<double>{2.0, 4.0}));
  L = {4.0, 8.0};
  cpu::gradnorm_update<float>(2, L.data(), G.data(), nullptr, b, w_out.data(), opt, 2);
  ASSERT_EQ(s.status, kGradNormOk);
  EXPECT_EQ(first(b.initial_losses, 2), (std::vector<double>{3.0, 6.0}));
  EXPECT_EQ(first(b.initial_loss_sum, 2), (std::vector<double>{6.0, 12.0}));
  EXPECT_EQ(first(b.loss_ratio, 2), (std::vector<double>{4.0 / 3.0, 8.0 / 6.0}));
  L = {1.0, 1.0};
  cpu::gradnorm_update<float>(2, L.data(), G.data(), nullptr, b, w_out.data(), opt, 3);
  ASSERT_EQ(s.status, kGradNormOk);
  EXPECT_EQ(first(b.initial_losses, 2), (std::vector<double>{3.0, 6.0}));
  EXPECT_EQ(first(b.initial_loss_sum, 2), (std::vector<double>{6.0, 12.0}));
  EXPECT_EQ(first(b.loss_ratio, 2), (std::vector<double>{1.0 / 3.0, 1.0 / 6.0}));
}

// initial_loss_steps = 0: L_i(0) is given by the owner and no update changes it (nor the loss sum), even
// with zero losses (which the L_i(0) window would refuse).
TEST(GradNormUpdateCpu, GivenInitialLossNeverChanges) {
  const int T = 3;
  HostGradNorm s(T);
  GradNormUpdateOptions opt;
  opt.initial_loss_steps = 0;
  const GradNormBuffers b = s.b();
  const std::vector<double> given{0.5, 2.0, 7.25};
  std::copy(given.begin(), given.end(), b.initial_losses);
  std::vector<double> w_out(T);
  Generator gen(11);
  for (int k = 1; k <= 50; ++k) {
    std::vector<double> L(T), G(T);
    for (int i = 0; i < T; ++i) {
      L[i] = k == 7 && i == 1 ? 0.0 : 0.1 + 3 * gen.uniform();
      G[i] = 0.1 + gen.uniform();
    }
    cpu::gradnorm_update<double>(T, L.data(), G.data(), nullptr, b, w_out.data(), opt, k);
    ASSERT_EQ(s.status, kGradNormOk) << "update " << k;
    expect_same_bits(first(b.initial_losses, T), given, "L_i(0)");
    expect_same_bits(first(b.initial_loss_sum, T), std::vector<double>(T, 0.0), "loss sum");
    for (int i = 0; i < T; ++i) EXPECT_EQ(b.loss_ratio[i], L[i] / given[i]);
  }
}

// Every failure sets its status and commits nothing: the five state arrays keep their bits and
// weights_out is not written. A good update afterwards goes on as if the failed ones never happened.
TEST(GradNormUpdateCpu, FailedUpdatesCommitNothing) {
  const gradnorm_cases::Failures failures;
  const int T = failures.T;
  const GradNormUpdateOptions opt = failures.options();
  const std::vector<double>&L1 = failures.L1, &L2 = failures.L2, &G = failures.G;
  HostGradNorm good(T);
  std::vector<float> w_out(T);
  cpu::gradnorm_update<float>(T, L1.data(), G.data(), nullptr, good.b(), w_out.data(), opt, 1);
  ASSERT_EQ(good.status, kGradNormOk);

  const std::vector<gradnorm_cases::FailureCase>& cases = failures.cases;
  for (const gradnorm_cases::FailureCase& c : cases) {
    HostGradNorm s = good;
    if (c.bad_weight >= 0) s.block[static_cast<std::size_t>(c.bad_weight)] = c.weight_value;
    const std::vector<double> before = s.state();
    std::vector<float> out(T, -1.0f);
    cpu::gradnorm_update<float>(T, c.L.data(), c.G.data(), c.flags.empty() ? nullptr : c.flags.data(), s.b(),
                                out.data(), opt, 2);
    EXPECT_EQ(s.status, c.status) << c.what;
    expect_same_bits(s.state(), before, c.what);
    EXPECT_EQ(out, std::vector<float>(T, -1.0f)) << c.what << ": weights_out written";
    if (c.bad_weight >= 0) continue;
    // Sticky: a good update after the failure changes nothing and keeps the first failure's status.
    cpu::gradnorm_update<float>(T, L2.data(), G.data(), nullptr, s.b(), out.data(), opt, 2);
    EXPECT_EQ(s.status, c.status) << c.what << ": the failure must stay visible";
    expect_same_bits(s.state(), before, std::string(c.what) + ", then a good update while failed");
    // Once the caller clears the status, the same state takes a good update 2 exactly as the never-failed
    // twin does.
    s.status = kGradNormOk;
    HostGradNorm twin = good;
    std::vector<float> out_twin(T);
    cpu::gradnorm_update<float>(T, L2.data(), G.data(), nullptr, s.b(), out.data(), opt, 2);
    cpu::gradnorm_update<float>(T, L2.data(), G.data(), nullptr, twin.b(), out_twin.data(), opt, 2);
    EXPECT_EQ(s.status, kGradNormOk) << c.what;
    expect_same_bits(s.block, twin.block, std::string(c.what) + ", then a good update");
    EXPECT_EQ(out, out_twin) << c.what;
  }
  // A bad loss in the very first update leaves L_i(0) unrecorded (and everything else) as well.
  HostGradNorm fresh(T);
  const std::vector<double> before = fresh.state(), zero{0.0, 1.0, 1.0};
  cpu::gradnorm_update<float>(T, zero.data(), G.data(), nullptr, fresh.b(), w_out.data(), opt, 1);
  EXPECT_EQ(fresh.status, kGradNormBadInitialLoss);
  expect_same_bits(fresh.state(), before, "first update, zero loss");
}

// The squared-norms input (per_task_sq_norms' output) is the plain-norms input after one sqrt. With
// G^2 rounded to double, sqrt(fl(G^2)) == G exactly (binary floating point, round to nearest), so the
// two paths give the same bits.
TEST(GradNormUpdateCpu, SquaredNormsMatchPlainNorms) {
  const int T = 5;
  GradNormUpdateOptions plain, squared;
  plain.squared_norms = false;
  squared.squared_norms = true;
  HostGradNorm a(T), b(T);
  std::vector<double> wa(T), wb(T);
  for (int k = 1; k <= 20; ++k) {
    std::vector<double> L, G;
    update_inputs(T, k, a.block.data(), L, G);
    std::vector<double> G2 = G;
    for (auto& g : G2) g *= g;
    cpu::gradnorm_update<double>(T, L.data(), G.data(), nullptr, a.b(), wa.data(), plain, k);
    cpu::gradnorm_update<double>(T, L.data(), G2.data(), nullptr, b.b(), wb.data(), squared, k);
    ASSERT_EQ(a.status, kGradNormOk);
    ASSERT_EQ(b.status, kGradNormOk);
    expect_same_bits(b.block, a.block, "squared vs plain norms, update " + std::to_string(k));
  }
}

// 200 updates on random losses and norms with large steps (the floor is hit): after every one, each
// weight is > 0 and sum w = T. Rounding bound, u = eps / 2: w_i = fl(fl(f_i T) / S), S the sum of the
// floored f_i in T - 1 roundings, so |sum w - T| <= T (T + 1) u to first order, plus T - 1 roundings of
// the sum here: T (T + 1) eps covers both; weights_out (float) adds T rounding errors of eps_f / 2 w_i.
// (Log and softmax: the same bound with f_i = exp(s_i - max s).) Linear counts each floor hit in the
// state; log and softmax never hit it.
class WeightsStayPositive : public ::testing::TestWithParam<GradNormParam> {};
TEST_P(WeightsStayPositive, AndSumToT) {
  const int T = 4;
  GradNormUpdateOptions opt;
  opt.param = GetParam();
  opt.lr = 0.5;
  opt.min_weight = 1e-3;
  opt.squared_norms = false;
  HostGradNorm s(T);
  std::vector<float> w_out(T);
  Generator gen(3);
  int floored = 0;
  const double tol = T * (T + 1) * kEps64;
  const double tol_out = tol + T * std::numeric_limits<float>::epsilon() / 2;  // w_i <= T: eps_f / 2 * sum w
  for (int k = 1; k <= 200; ++k) {
    std::vector<double> L(T), G(T);
    for (int i = 0; i < T; ++i) {
      L[i] = 0.01 + 100 * gen.uniform();
      G[i] = 0.01 + 100 * gen.uniform();
    }
    const GradNormBuffers b = s.b();
    cpu::gradnorm_update<float>(T, L.data(), G.data(), nullptr, b, w_out.data(), opt, k);
    ASSERT_EQ(s.status, kGradNormOk) << "update " << k;
    double sum = 0, sum_out = 0;
    for (int i = 0; i < T; ++i) {
      ASSERT_GT(b.weights[i], 0.0) << "update " << k;
      // Log and softmax: a weight may fall below the smallest float (lr 0.5 drives s to about -100 here)
      // and round to 0 in a float32 model; the float64 master stays > 0.
      if (GetParam() == GradNormParam::Linear)
        ASSERT_GT(w_out[i], 0.0f) << "update " << k;
      else
        ASSERT_GE(w_out[i], 0.0f) << "update " << k;
      ASSERT_EQ(w_out[i], static_cast<float>(b.weights[i]));
      floored += b.weights_stepped[i] < opt.min_weight;
      sum += b.weights[i];
      sum_out += w_out[i];
    }
    ASSERT_NEAR(sum, T, tol) << "update " << k;
    ASSERT_NEAR(sum_out, T, tol_out) << "update " << k;
  }
  if (GetParam() == GradNormParam::Linear) {
    EXPECT_GT(floored, 0) << "the run never reached the floor: make the steps larger";
    EXPECT_EQ(s.b().floor_hits[0], floored) << "every floor hit is counted";
  } else {
    EXPECT_EQ(s.b().floor_hits[0], 0.0) << "no floor for " << gradnorm_param_name(GetParam());
  }
}
INSTANTIATE_TEST_SUITE_P(GradNormUpdateCpu, WeightsStayPositive,
                         ::testing::Values(GradNormParam::Linear, GradNormParam::Log, GradNormParam::Softmax),
                         [](const auto& info) { return std::string(gradnorm_param_name(info.param)); });

TEST(GradNormUpdateCpu, RejectsBadArguments) {
  HostGradNorm s(2);
  const std::vector<double> L{1.0, 1.0}, G{1.0, 1.0};
  std::vector<double> w_out(2);
  EXPECT_THROW(cpu::gradnorm_update<double>(0, L.data(), G.data(), nullptr, s.b(), w_out.data(), {}, 1), Error);
  EXPECT_THROW(cpu::gradnorm_update<double>(-1, L.data(), G.data(), nullptr, s.b(), w_out.data(), {}, 1), Error);
  EXPECT_THROW(cpu::gradnorm_update<double>(2, L.data(), G.data(), nullptr, s.b(), w_out.data(), {}, 0), Error);
  EXPECT_THROW(cpu::gradnorm_update<double>(2, L.data(), G.data(), nullptr, s.b(), w_out.data(), {}, -3), Error);
}

}  // namespace
}  // namespace gn
