// Dense-prediction losses (masked_mse_loss, masked_l1_loss, normal_cosine_loss) and the resolution rule
// (resize_nearest2d, match_resolution) on the CPU: hand-computed values, the empty-mask rule, float64
// gradient checks by finite differences, input validation and thread-count independence. The same hand
// cases run on CUDA in dense_loss_cuda_test.cpp; CPU-vs-CUDA parity in backend_parity_dense_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "kernels/cpu/threads.h"
#include "tests/core/dense_loss_cases.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using gn_test::gradcheck;
using V = std::vector<Tensor>;
using Vec = std::vector<double>;

constexpr DType kDtypes[] = {DType::Float32, DType::Float64};

// ---- values ----

TEST(DenseLoss, MaskedDepthValuesByHand) {
  for (const DType dt : kDtypes) gn_dense_test::check_masked_values(gn::cpu_device(), dt);
}

TEST(DenseLoss, NormalCosineValuesByHand) {
  for (const DType dt : kDtypes) gn_dense_test::check_normal_values(gn::cpu_device(), dt);
}

TEST(DenseLoss, NoValidPixelGivesZeroLossAndExactlyZeroGradient) {
  for (const DType dt : kDtypes) gn_dense_test::check_all_invalid(gn::cpu_device(), dt);
}

TEST(DenseLoss, NanTargetIsInvalidInfPropagates) {
  for (const DType dt : kDtypes) gn_dense_test::check_non_finite_targets(gn::cpu_device(), dt);
}

// The mean is over valid pixels, not over every element: the same valid pixels with more invalid ones
// around them give the same loss.
TEST(DenseLoss, InvalidPixelsDoNotDiluteTheMean) {
  const Tensor p1 = Tensor::from_vector(Vec{2, 4}, {1, 1, 1, 2}, DType::Float64);
  const Tensor t1 = Tensor::from_vector(Vec{1, 1}, {1, 1, 1, 2}, DType::Float64);
  const Tensor p2 = Tensor::from_vector(Vec{2, 4, 9, 9, 9, 9}, {1, 1, 1, 6}, DType::Float64);
  const Tensor t2 = Tensor::from_vector(Vec{1, 1, 0, 0, 0, 0}, {1, 1, 1, 6}, DType::Float64);
  EXPECT_DOUBLE_EQ(gn::masked_mse_loss(p1, t1).item(), 5.0);  // (1 + 9) / 2
  EXPECT_DOUBLE_EQ(gn::masked_mse_loss(p2, t2).item(), 5.0);
  EXPECT_DOUBLE_EQ(gn::masked_l1_loss(p2, t2).item(), 2.0);  // (1 + 3) / 2
}

// ---- gradients: float64 central differences ----

// Valid depths in [0.5, 2] with every third element set to `invalid` (0 or negative).
Tensor depth_target(const Shape& s, gn::Generator& gen, double invalid) {
  Vec v = gn::Tensor::uniform(s, gen, 0.5, 2.0, DType::Float64).to_vector();
  for (std::size_t i = 0; i < v.size(); i += 3) v[i] = invalid;
  return Tensor::from_vector(v, s, DType::Float64);
}

TEST(DenseLossGradCheck, masked_mse_loss) {
  gn::Generator gen(301);
  const Shape s{2, 1, 3, 5};
  // Both inputs vary; invalid targets are negative so a finite-difference step cannot make them valid.
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::masked_mse_loss(x[0], x[1]); },
                        {gn_test::away_from_zero(s, gen), depth_target(s, gen, -1.0)}));
  // Invalid targets exactly 0 (the NYUv2 convention), the target held constant.
  const Tensor t = depth_target(s, gen, 0.0);
  EXPECT_TRUE(gradcheck([t](const V& x) { return gn::masked_mse_loss(x[0], t); }, {gn_test::away_from_zero(s, gen)}));
}

TEST(DenseLossGradCheck, masked_l1_loss) {
  gn::Generator gen(302);
  const Shape s{2, 1, 4, 3};
  // |p - t| >= 0.2 everywhere, far from the kink at p = t.
  const Tensor t = depth_target(s, gen, -0.5);
  const Tensor p = gn::add(t, gn_test::away_from_zero(s, gen, 0.2, 1.0));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::masked_l1_loss(x[0], x[1]); }, {p.detach(), t}));
  const Tensor t0 = depth_target(s, gen, 0.0);
  const Tensor p0 = gn::add(t0, gn_test::away_from_zero(s, gen, 0.2, 1.0));
  EXPECT_TRUE(gradcheck([t0](const V& x) { return gn::masked_l1_loss(x[0], t0); }, {p0.detach()}));
}

TEST(DenseLossGradCheck, normal_cosine_loss) {
  gn::Generator gen(303);
  const Shape s{2, 3, 3, 4};  // 24 pixels
  const std::int64_t S = 12;
  // Target: random vectors (not unit: t / |t| is part of the op), every fifth pixel all zero (invalid).
  Vec t = gn_test::away_from_zero(s, gen, 0.2, 1.5).to_vector();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t px = 0; px < S; px += 5)
      for (std::int64_t c = 0; c < 3; ++c) t[(n * 3 + c) * S + px] = 0;
  const Tensor target = Tensor::from_vector(t, s, DType::Float64);
  // Regular pixels: |p| ~ 1.
  EXPECT_TRUE(gradcheck([target](const V& x) { return gn::normal_cosine_loss(x[0], target); },
                        {gn_test::away_from_zero(s, gen)}));
  // Tiny pixels: pred = x * scale with scale 1e-8 at every third pixel and x there in [1e-6, 3e-5), so
  // |p| < 3e-13 * sqrt(3) < eps = 1e-12 before and after every finite-difference step (the p / eps
  // branch), and 1 elsewhere.
  Vec scale(t.size(), 1.0), x = gn_test::away_from_zero(s, gen).to_vector();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t px = 1; px < S; px += 3)
      for (std::int64_t c = 0; c < 3; ++c) {
        const std::size_t i = static_cast<std::size_t>((n * 3 + c) * S + px);
        scale[i] = 1e-8;
        x[i] = (x[i] < 0 ? -1 : 1) * (1e-6 + 2.9e-5 * gen.uniform());
      }
  const Tensor sc = Tensor::from_vector(scale, s, DType::Float64);
  EXPECT_TRUE(gradcheck([target, sc](const V& v) { return gn::normal_cosine_loss(gn::mul(v[0], sc), target); },
                        {Tensor::from_vector(x, s, DType::Float64)}));
}

// The target of the normal loss gets no gradient; a depth target does (minus pred's).
TEST(DenseLoss, NormalTargetGetsNoGradient) {
  gn::Generator gen(304);
  Tensor p = gn_test::away_from_zero({1, 3, 2, 2}, gen).set_requires_grad();
  Tensor t = gn_test::away_from_zero({1, 3, 2, 2}, gen).set_requires_grad();
  gn::backward(gn::normal_cosine_loss(p, t));
  EXPECT_TRUE(p.grad().defined());
  EXPECT_FALSE(t.grad().defined());
}

// ---- the resolution rule ----

TEST(DenseLossResize, FourByFourToTwoByTwoPicksEvenRowsAndColumns) { gn_dense_test::check_resize(gn::cpu_device()); }

// resize_nearest2d takes the same source pixels as upsample_nearest2d (one index rule), including
// non-integer ratios, up and down; and the index is floor(o * in / out).
TEST(DenseLossResize, SameIndicesAsUpsampleNearest) {
  gn::Generator gen(305);
  const Tensor x = gn_test::uniform({2, 3, 5, 7}, gen);
  for (const auto& [oh, ow] : {std::pair<std::int64_t, std::int64_t>{3, 2}, {9, 11}, {5, 7}, {1, 1}}) {
    SCOPED_TRACE(std::to_string(oh) + "x" + std::to_string(ow));
    const Vec got = gn::resize_nearest2d(x, oh, ow).to_vector();
    EXPECT_EQ(got, gn::upsample_nearest2d(x, oh, ow).to_vector());
    const Vec xv = x.to_vector();
    for (std::int64_t p = 0; p < 6; ++p)
      for (std::int64_t o = 0; o < oh; ++o)
        for (std::int64_t q = 0; q < ow; ++q)
          ASSERT_EQ(got[(p * oh + o) * ow + q], xv[(p * 5 + o * 5 / oh) * 7 + q * 7 / ow]);
  }
}

TEST(DenseLossResize, MatchResolution) {
  const Tensor pred = Tensor::zeros({2, 4, 2, 3}, DType::Float64);
  const Tensor same = Tensor::zeros({2, 2, 3}, DType::Int64);
  EXPECT_TRUE(gn::match_resolution(same, pred).same(same)) << "equal resolution: no copy";
  const Tensor labels = Tensor::zeros({2, 4, 6}, DType::Int64);
  EXPECT_EQ(gn::match_resolution(labels, pred).shape(), (Shape{2, 2, 3}));
  const Tensor depth = Tensor::zeros({2, 1, 8, 12}, DType::Float32);
  EXPECT_EQ(gn::match_resolution(depth, pred).shape(), (Shape{2, 1, 2, 3}));
  EXPECT_TRUE(gn_test::throws_error_with([&] { gn::match_resolution(Tensor::zeros({4}), pred); },
                                         {"match_resolution", "(4,)"}));
  EXPECT_TRUE(gn_test::throws_error_with([&] { gn::resize_nearest2d(depth, 0, 3); }, {"resize_nearest2d", "(0, 3)"}));
}

// ---- validation ----

TEST(DenseLoss, BadInputsAreClearErrors) {
  const Tensor p = Tensor::zeros({2, 1, 4, 4}, DType::Float32);
  EXPECT_TRUE(gn_test::throws_error_with(
      [&] {
        gn::masked_mse_loss(p, Tensor::zeros({2, 1, 4, 5}));
      },
      {"masked_mse_loss", "(2, 1, 4, 4)", "(2, 1, 4, 5)"}));
  EXPECT_TRUE(gn_test::throws_error_with(
      [&] {
        gn::masked_l1_loss(p, Tensor::zeros({2, 1, 4, 4}, DType::Float64));
      },
      {"masked_l1_loss", "float64"}));
  EXPECT_TRUE(gn_test::throws_error_with(
      [&] { gn::masked_l1_loss(Tensor::zeros({4}, DType::Int64), Tensor::zeros({4}, DType::Int64)); },
      {"masked_l1_loss", "int64"}));
  EXPECT_TRUE(gn_test::throws_error_with(
      [&] {
        gn::masked_mse_loss(Tensor::zeros({0, 1}), Tensor::zeros({0, 1}));
      },
      {"masked_mse_loss", "empty"}));
  EXPECT_TRUE(gn_test::throws_error_with([&] { gn::normal_cosine_loss(Tensor::zeros({3}), Tensor::zeros({3})); },
                                         {"normal_cosine_loss", "(3,)"}));
  EXPECT_TRUE(gn_test::throws_error_with(
      [&] {
        gn::normal_cosine_loss(Tensor::zeros({1, 3, 2, 2}), Tensor::zeros({1, 3, 2}));
      },
      {"normal_cosine_loss", "(1, 3, 2, 2)", "(1, 3, 2)"}));
  EXPECT_TRUE(gn_test::throws_error_with([&] { gn::masked_mse_loss(p, Tensor()); }, {"masked_mse_loss", "target"}));
}

// ---- determinism: the CPU value does not depend on the thread count ----

class DenseLossThreads : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = gn::cpu::num_threads(); }
  void TearDown() override { gn::cpu::set_num_threads(saved_); }
  int saved_ = 1;
};

TEST_F(DenseLossThreads, OneAndTwoThreadsGiveIdenticalBits) {
  gn::Generator gen(306);
  const Shape s{2, 3, 150, 131};  // 39300 pixels per channel: above the parallel grain, many blocks
  const Tensor x = gn_test::uniform(s, gen, -1, 1, DType::Float32);
  Vec tv = gn_test::uniform(s, gen, -0.5, 2, DType::Float32).to_vector();  // depth: a fifth <= 0 (invalid)
  const Tensor t = Tensor::from_vector(tv, s, DType::Float32);
  auto run = [&](int threads) {
    gn::cpu::set_num_threads(threads);
    Vec out;
    for (int k = 0; k < 3; ++k) {
      Tensor p = x.detach().clone().set_requires_grad();
      const Tensor loss = k == 0   ? gn::masked_mse_loss(p, t)
                          : k == 1 ? gn::masked_l1_loss(p, t)
                                   : gn::normal_cosine_loss(p, t);
      gn::backward(loss);
      out.push_back(loss.item());
      for (const double v : p.grad().to_vector()) out.push_back(v);
    }
    return out;
  };
  const Vec one = run(1), two = run(2);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_TRUE(one == two) << "the loss or its gradient depends on the thread count";
  // And the value is right: the masked MSE against a plain double loop.
  const Vec xv = x.to_vector();
  double sum = 0;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < xv.size(); ++i)
    if (tv[i] > 0) sum += (xv[i] - tv[i]) * (xv[i] - tv[i]), ++count;
  EXPECT_NEAR(one[0], sum / static_cast<double>(count), 1e-6 * sum / static_cast<double>(count));
}

}  // namespace
