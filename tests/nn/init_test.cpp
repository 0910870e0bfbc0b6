// Initialisers: reproducible from a seed, in place, with the bounds and variances of their formulas.
#include "nn/init.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"

namespace gn::nn {
namespace {

struct Moments {
  double mean, var, max_abs;
};
Moments moments(const Tensor& t) {
  const auto v = t.to_vector();
  double s = 0, s2 = 0, m = 0;
  for (double x : v) {
    s += x;
    m = std::max(m, std::abs(x));
  }
  const double mean = s / static_cast<double>(v.size());
  for (double x : v) s2 += (x - mean) * (x - mean);
  return {mean, s2 / static_cast<double>(v.size() - 1), m};
}

using Init = std::function<void(Tensor&, Generator&)>;

TEST(Init, SameSeedSameNumbersDifferentSeedDifferent) {
  const std::vector<std::pair<const char*, Init>> inits = {
      {"xavier_uniform_", [](Tensor& t, Generator& g) { xavier_uniform_(t, g); }},
      {"xavier_normal_", [](Tensor& t, Generator& g) { xavier_normal_(t, g); }},
      {"kaiming_uniform_", [](Tensor& t, Generator& g) { kaiming_uniform_(t, g); }},
      {"kaiming_normal_", [](Tensor& t, Generator& g) { kaiming_normal_(t, g); }},
  };
  for (const auto& [name, init] : inits) {
    Tensor a = Tensor::empty({8, 5}), b = Tensor::empty({8, 5}), c = Tensor::empty({8, 5});
    Generator ga(7), gb(7), gc(8);
    init(a, ga);
    init(b, gb);
    init(c, gc);
    EXPECT_EQ(a.to_vector(), b.to_vector()) << name;
    EXPECT_NE(a.to_vector(), c.to_vector()) << name;
  }
}

TEST(Init, FillsInPlaceSoAliasesSeeTheNumbers) {
  Tensor t = Tensor::zeros({4, 4});
  const Tensor alias = t;
  void* storage = t.raw_data();
  Generator gen(1);
  kaiming_normal_(t, gen);
  EXPECT_EQ(t.raw_data(), storage);
  EXPECT_EQ(alias.to_vector(), t.to_vector());
  EXPECT_NE(moments(alias).max_abs, 0.0);
}

// For N = 256 * 256 samples the sample variance of U(-a, a) has relative standard error
// sqrt(Var(x^2)) / (sigma^2 sqrt(N)) = sqrt(4/45 a^4) / (a^2/3 * 256) ~ 0.0035, and that of N(0, s^2) has
// sqrt(2 / N) ~ 0.0055: a 3% band is more than 5 standard errors for both. The mean's standard error
// is sigma / 256; 5 of those bound it.
constexpr double kVarianceBand = 0.03;

TEST(Init, XavierUniformBoundsAndVariance) {
  for (double gain : {1.0, 2.0}) {
    Tensor t = Tensor::empty({256, 256});
    Generator gen(21);
    xavier_uniform_(t, gen, gain);
    const double bound = gain * std::sqrt(6.0 / (256 + 256));
    const double var = bound * bound / 3;  // = gain^2 * 2 / (fan_in + fan_out)
    const Moments m = moments(t);
    EXPECT_LE(m.max_abs, bound * (1 + FLT_EPSILON));  // float32 rounding may land half an ulp past the bound
    EXPECT_GT(m.max_abs, 0.999 * bound);              // 65536 draws reach the edge: P(not) = 0.999^65536 ~ 4e-29
    EXPECT_NEAR(m.var, var, kVarianceBand * var) << "gain " << gain;
    EXPECT_NEAR(m.mean, 0.0, 5 * std::sqrt(var) / 256);
  }
}

TEST(Init, XavierNormalVarianceUsesBothFans) {
  Tensor t = Tensor::empty({128, 512});  // fan_out 128, fan_in 512
  Generator gen(22);
  xavier_normal_(t, gen, 1.5);
  const double var = 1.5 * 1.5 * 2.0 / (128 + 512);
  EXPECT_NEAR(moments(t).var, var, kVarianceBand * var);
}

TEST(Init, KaimingNormalStdIsSqrtTwoOverFanIn) {
  Tensor t = Tensor::empty({256, 256});
  Generator gen(23);
  kaiming_normal_(t, gen);
  const double sd = std::sqrt(2.0 / 256);
  const Moments m = moments(t);
  // The sample std has relative standard error 1 / sqrt(2N) ~ 0.0028: half the variance band.
  EXPECT_NEAR(std::sqrt(m.var), sd, 0.5 * kVarianceBand * sd);
  EXPECT_NEAR(m.mean, 0.0, 5 * sd / 256);
}

TEST(Init, KaimingUniformUsesFanInNotFanOut) {
  // (out, in) = (64, 1024): fan_in = 1024. Using fan_out (64) would give a bound 4x larger.
  Tensor t = Tensor::empty({64, 1024}, DType::Float64);
  Generator gen(24);
  kaiming_uniform_(t, gen);
  const double bound = std::sqrt(2.0) * std::sqrt(3.0 / 1024);
  const Moments m = moments(t);
  EXPECT_LE(m.max_abs, bound);
  EXPECT_GT(m.max_abs, 0.999 * bound);
  // a = sqrt(5) gives PyTorch's Linear default, bound 1 / sqrt(fan_in).
  kaiming_uniform_(t, gen, std::sqrt(5.0));
  EXPECT_LE(moments(t).max_abs, (1.0 / 32) * (1 + 1e-12));  // sqrt(1/3) * sqrt(3/1024) may round by an ulp
  EXPECT_GT(moments(t).max_abs, 0.999 / 32);
}

TEST(Init, FansIncludeTheReceptiveField) {
  const Fans conv = compute_fans(Tensor::empty({8, 3, 5, 5}));
  EXPECT_EQ(conv.fan_in, 3 * 25);
  EXPECT_EQ(conv.fan_out, 8 * 25);
  const Fans lin = compute_fans(Tensor::empty({10, 7}));
  EXPECT_EQ(lin.fan_in, 7);
  EXPECT_EQ(lin.fan_out, 10);
}

TEST(Init, ZerosAndConstant) {
  Tensor t = Tensor::ones({3, 2}, DType::Float64);
  constant_(t, 0.25);
  EXPECT_EQ(t.to_vector(), std::vector<double>(6, 0.25));
  zeros_(t);
  EXPECT_EQ(t.to_vector(), std::vector<double>(6, 0.0));
}

TEST(Init, RejectsTensorsWithoutFans) {
  Generator gen(25);
  Tensor vec = Tensor::empty({5});
  try {
    xavier_uniform_(vec, gen);
    FAIL() << "expected gn::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("xavier_uniform_"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(5,)"), std::string::npos) << e.what();
  }
  Tensor labels = Tensor::empty({2, 2}, DType::Int64);
  EXPECT_THROW(kaiming_normal_(labels, gen), Error);
}

}  // namespace
}  // namespace gn::nn
