// The GradNorm CPU kernels against naive float64 loops at awkward sizes, outputs poisoned first.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/rng.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"
#include "kernels/error.h"

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
