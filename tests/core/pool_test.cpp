// Max pooling with indices, max unpooling, nearest / bilinear upsampling and batch norm: values against hand
// computations and PyTorch's semantics, float64 finite-difference gradient checks at awkward shapes, and the
// errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <set>

#include "core/autograd.h"
#include "core/ops.h"
#include "kernels/cpu/threads.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using gn_test::all_close;
using gn_test::gradcheck;
using gn_test::throws_error_with;
using gn_test::uniform;
using V = std::vector<Tensor>;
using Vec = std::vector<double>;

Tensor make(const Vec& v, const Shape& s, DType dt = DType::Float64) { return Tensor::from_vector(v, s, dt); }

// Distinct values, 0.05 apart in a random order (offset to straddle 0): no ties, and no two values within a
// finite-difference step of each other, so the argmax of every window is stable under the gradient check.
Tensor distinct(const Shape& s, gn::Generator& gen) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(gen.uniform() * static_cast<double>(i + 1));
    std::swap(perm[i], perm[std::min(j, i)]);
  }
  Vec v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[i] = 0.05 * static_cast<double>(perm[i]) - 0.025 * static_cast<double>(n);
  return make(v, s);
}

std::vector<std::int64_t> labels_of(const Tensor& t) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(t.numel()));
  std::copy_n(t.data<std::int64_t>(), t.numel(), out.begin());
  return out;
}

class PoolDtype : public ::testing::TestWithParam<DType> {};
INSTANTIATE_TEST_SUITE_P(Dtypes, PoolDtype, ::testing::Values(DType::Float32, DType::Float64),
                         [](const auto& info) { return std::string(gn::dtype_name(info.param)); });

// ---- max pooling: values and indices -----------------------------------------------------------------------

TEST_P(PoolDtype, MaxPoolValuesAndIndicesLayout) {
  const Tensor x = make({1, 5, 2, 0,  //
                         3, 4, 8, 7,  //
                         9, 6, 1, 2,  //
                         0, 3, 4, 10},
                        {1, 1, 4, 4}, GetParam());
  const auto r = gn::max_pool2d_with_indices(x, 2, 2);
  EXPECT_EQ(r.values.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(r.indices.dtype(), DType::Int64);
  EXPECT_TRUE(all_close(r.values, {5, 8, 9, 10}, 0, 0));
  // Flat h * W + w within the plane, as PyTorch: (0,1) -> 1, (1,2) -> 6, (2,0) -> 8, (3,3) -> 15.
  EXPECT_EQ(labels_of(r.indices), (std::vector<std::int64_t>{1, 6, 8, 15}));
}

TEST_P(PoolDtype, MaxPoolPaddingStrideAndOddSizes) {
  // 3x3 of 1..9, kernel 3, stride 2, padding 1: four windows clipped to the plane.
  const Tensor x = make({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, GetParam());
  const auto r = gn::max_pool2d_with_indices(x, 3, 2, 1);
  EXPECT_EQ(r.values.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(all_close(r.values, {5, 6, 8, 9}, 0, 0));
  EXPECT_EQ(labels_of(r.indices), (std::vector<std::int64_t>{4, 5, 7, 8}));
  // Odd 5x5 with kernel 2 / stride 2: floor mode drops the last row and column.
  Vec v(25);
  std::iota(v.begin(), v.end(), 0.0);
  const auto r2 = gn::max_pool2d_with_indices(make(v, {1, 1, 5, 5}, GetParam()), 2, 2);
  EXPECT_EQ(r2.values.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(all_close(r2.values, {6, 8, 16, 18}, 0, 0));
  EXPECT_EQ(labels_of(r2.indices), (std::vector<std::int64_t>{6, 8, 16, 18}));
  // Rectangular kernel (3, 2), stride (2, 1), padding (1, 0) on the 5x5 ramp: OH = 3, OW = 4.
  const auto r3 = gn::max_pool2d_with_indices(make(v, {1, 1, 5, 5}, GetParam()), {3, 2}, {2, 1}, {1, 0});
  EXPECT_EQ(r3.values.shape(), (Shape{1, 1, 3, 4}));
  EXPECT_EQ(labels_of(r3.indices), (std::vector<std::int64_t>{6, 7, 8, 9, 16, 17, 18, 19, 21, 22, 23, 24}));
}

TEST_P(PoolDtype, MaxPoolTiesGoToTheFirstMaximum) {
  const Tensor x = make({2, 2, 1, 3,  //
                         2, 2, 3, 3},
                        {1, 1, 2, 4}, GetParam());
  const auto r = gn::max_pool2d_with_indices(x, 2, 2);
  EXPECT_EQ(labels_of(r.indices), (std::vector<std::int64_t>{0, 3}));
  // The gradient goes to that first maximum only.
  Tensor xl = x.clone().set_requires_grad();
  gn::backward(gn::sum(gn::max_pool2d(xl, 2, 2)));
  EXPECT_TRUE(all_close(xl.grad(), {1, 0, 0, 1, 0, 0, 0, 0}, 0, 0));
}

TEST_P(PoolDtype, MaxPool2x2FastPathMatchesTheScanWithNaNAndInfinities) {
  // The 2x2 / stride 2 kernel has its own loop: against a direct scan (first element, then any larger one
  // or a NaN takes over), on odd sizes (the last row and column are dropped) with NaN, -inf and ties.
  const std::int64_t H = 7, W = 9;
  gn::Generator gen(11);
  Vec v = uniform({2, 3, H, W}, gen).to_vector();
  for (double& x : v) x = static_cast<float>(x);  // the same values in both dtypes
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < v.size(); i += 5) v[i] = std::round(v[i]);  // ties
  for (std::size_t i = 3; i < v.size(); i += 17) v[i] = nan;
  for (std::size_t i = 7; i < v.size(); i += 13) v[i] = -inf;
  for (std::size_t i = 0; i < 4; ++i) v[i < 2 ? i : W + i - 2] = -inf;  // a window of only -inf
  const auto r = gn::max_pool2d_with_indices(make(v, {2, 3, H, W}, GetParam()), 2, 2);
  const Vec got = r.values.to_vector();
  const auto idx = labels_of(r.indices);
  const std::int64_t OH = H / 2, OW = W / 2;
  for (std::int64_t p = 0; p < 6; ++p)
    for (std::int64_t oh = 0; oh < OH; ++oh)
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        double best = -inf;
        std::int64_t arg = 2 * oh * W + 2 * ow;
        for (std::int64_t h = 2 * oh; h < 2 * oh + 2; ++h)
          for (std::int64_t w = 2 * ow; w < 2 * ow + 2; ++w) {
            const double x = v[p * H * W + h * W + w];
            if (x > best || std::isnan(x)) best = x, arg = h * W + w;
          }
        const std::int64_t o = p * OH * OW + oh * OW + ow;
        EXPECT_EQ(idx[o], arg) << "plane " << p << " window (" << oh << ", " << ow << ")";
        if (std::isnan(best))
          EXPECT_TRUE(std::isnan(got[o]));
        else
          EXPECT_EQ(got[o], best);
      }
}

TEST(MaxPool, BackwardAccumulatesOverOverlappingWindows) {
  // Kernel 3, stride 1, padding 1 on (1, 1, 3, 4): 3x4 outputs, nine of whose windows hold the 9 at (1, 1).
  const Tensor x = make({0, 1, 0, 0,  //
                         0, 9, 0, 0,  //
                         0, 1, 0, 0},
                        {1, 1, 3, 4});
  Tensor xl = x.clone().set_requires_grad();
  const auto r = gn::max_pool2d_with_indices(xl, 3, 1, 1);
  gn::backward(gn::sum(r.values));
  const Vec g = xl.grad().to_vector();
  EXPECT_EQ(g[5], 9.0);  // the windows at rows 0..2, columns 0..2 contain (1, 1)
  double total = 0;
  for (double d : g) total += d;
  EXPECT_EQ(total, 12.0);  // every output sends its gradient somewhere
}

// ---- max unpooling ------------------------------------------------------------------------------------------

TEST_P(PoolDtype, UnpoolOfPoolKeepsExactlyTheMaxima) {
  gn::Generator gen(7);
  for (const auto& s : std::vector<Shape>{{2, 3, 5, 7}, {1, 1, 4, 4}, {3, 2, 6, 5}}) {
    const Tensor x = distinct(s, gen).to(GetParam());
    const auto r = gn::max_pool2d_with_indices(x, 2, 2);
    const Tensor y = gn::max_unpool2d(r.values, r.indices, s[2], s[3]);
    ASSERT_EQ(y.shape(), s);
    // The argmax positions, per plane.
    const std::int64_t plane = s[2] * s[3], out_plane = r.values.size(2) * r.values.size(3);
    std::set<std::int64_t> kept;
    const auto idx = labels_of(r.indices);
    for (std::size_t i = 0; i < idx.size(); ++i) kept.insert(static_cast<std::int64_t>(i) / out_plane * plane + idx[i]);
    const Vec xv = x.to_vector(), yv = y.to_vector();
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      if (kept.count(i) != 0) {
        EXPECT_EQ(yv[i], xv[i]) << "position " << i;
      } else {
        EXPECT_EQ(yv[i], 0.0) << "position " << i;
      }
    }
    // Every kept value is the maximum of its window.
    EXPECT_EQ(static_cast<std::int64_t>(kept.size()), r.values.numel());
  }
}

TEST(MaxUnpool, ExplicitOutputSizeForOddInputs) {
  const Tensor v = make({5, 7}, {1, 1, 1, 2});
  const Tensor idx = Tensor::from_labels(std::vector<std::int64_t>{1, 14}, {1, 1, 1, 2});
  const Tensor y = gn::max_unpool2d(v, idx, 3, 5);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 5}));
  Vec want(15, 0.0);
  want[1] = 5;
  want[14] = 7;
  EXPECT_TRUE(all_close(y, want, 0, 0));
}

// ---- upsampling -----------------------------------------------------------------------------------------------

TEST_P(PoolDtype, UpsampleNearestMatchesPytorch) {
  const Tensor x = make({1, 2, 3, 4}, {1, 1, 2, 2}, GetParam());
  // 2 -> 3 rows: sources floor(o * 2/3) = 0, 0, 1; 2 -> 5 columns: floor(o * 0.4) = 0, 0, 0, 1, 1.
  EXPECT_TRUE(all_close(gn::upsample_nearest2d(x, 3, 5), {1, 1, 1, 2, 2, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4}, 0, 0));
  EXPECT_TRUE(all_close(gn::upsample_nearest2d(x, 4, 4), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 0, 0));
  // Downsampling 5 -> 2 picks rows/columns 0 and floor(1 * 2.5) = 2.
  Vec v(25);
  std::iota(v.begin(), v.end(), 0.0);
  EXPECT_TRUE(all_close(gn::upsample_nearest2d(make(v, {1, 1, 5, 5}, GetParam()), 2, 2), {0, 2, 10, 12}, 0, 0));
}

TEST_P(PoolDtype, UpsampleBilinearTwoByTwoToThreeByFiveByHand) {
  // x = [[1, 2], [3, 5]] is f(r, c) = 1 + c + 2 r + r c on the unit square, so the output at source
  // coordinates (r, c) is f(r, c) exactly.
  const Tensor x = make({1, 2, 3, 5}, {1, 1, 2, 2}, GetParam());
  auto expected = [](const Vec& rows, const Vec& cols) {
    Vec out;
    for (double r : rows)
      for (double c : cols) out.push_back(1 + c + 2 * r + r * c);
    return out;
  };
  const double tol = GetParam() == DType::Float32 ? 1e-6 : 1e-14;
  // align_corners = true: rows o * (2-1)/(3-1) = 0, .5, 1; columns o * 1/4 = 0, .25, .5, .75, 1.
  EXPECT_TRUE(
      all_close(gn::upsample_bilinear2d(x, 3, 5, true), expected({0, 0.5, 1}, {0, 0.25, 0.5, 0.75, 1}), tol, tol));
  // align_corners = false: rows (o + .5) 2/3 - .5 = -1/6 -> 0, .5, 7/6 (clamped to the last row: 1);
  // columns (o + .5) 0.4 - .5 = -.3 -> 0, .1, .5, .9, 1.3 (-> 1).
  EXPECT_TRUE(
      all_close(gn::upsample_bilinear2d(x, 3, 5, false), expected({0, 0.5, 1}, {0, 0.1, 0.5, 0.9, 1}), tol, tol));
  // Explicit values for the record (align_corners = false, middle row): 2, 2.15, 2.75, 3.35, 3.5.
  const Vec mid{2, 2.15, 2.75, 3.35, 3.5};
  const Vec got = gn::upsample_bilinear2d(x, 3, 5, false).to_vector();
  for (int j = 0; j < 5; ++j) EXPECT_NEAR(got[5 + j], mid[j], tol);
}

// ---- gradient checks (float64) --------------------------------------------------------------------------------

TEST(GradCheck, max_pool2d) {
  gn::Generator gen(31);
  struct Case {
    Shape s;
    gn::Size2 k, st, p;
  };
  const std::vector<Case> cases = {
      {{1, 1, 5, 7}, 3, 2, 1}, {{3, 2, 6, 5}, 2, 2, 0}, {{3, 2, 7, 7}, 3, 2, 1}, {{1, 3, 5, 5}, {3, 2}, {2, 1}, {1, 0}},
      {{2, 1, 4, 6}, 3, 1, 1},  // overlapping windows: one input feeds several outputs
  };
  for (const auto& c : cases)
    EXPECT_TRUE(gradcheck([&](const V& x) { return gn::max_pool2d(x[0], c.k, c.st, c.p); }, {distinct(c.s, gen)}))
        << gn::to_string(c.s);
}

TEST(GradCheck, max_unpool2d) {
  gn::Generator gen(32);
  for (const auto& s : std::vector<Shape>{{1, 2, 5, 7}, {3, 1, 4, 4}}) {
    const auto r = gn::max_pool2d_with_indices(distinct(s, gen), 2, 2);
    const Tensor idx = r.indices;
    EXPECT_TRUE(gradcheck([&](const V& x) { return gn::max_unpool2d(x[0], idx, s[2], s[3]); },
                          {uniform(r.values.shape(), gen)}))
        << gn::to_string(s);
  }
}

TEST(GradCheck, upsample_nearest2d) {
  gn::Generator gen(33);
  const std::vector<std::pair<Shape, std::pair<int, int>>> cases = {
      {{1, 2, 3, 5}, {7, 4}}, {{3, 1, 2, 3}, {4, 6}}, {{1, 1, 5, 7}, {3, 4}}, {{2, 2, 1, 1}, {3, 2}}};
  for (const auto& [s, o] : cases)
    EXPECT_TRUE(
        gradcheck([&](const V& x) { return gn::upsample_nearest2d(x[0], o.first, o.second); }, {uniform(s, gen)}))
        << gn::to_string(s);
}

TEST(GradCheck, upsample_bilinear2d) {
  gn::Generator gen(34);
  const std::vector<std::pair<Shape, std::pair<int, int>>> cases = {
      {{1, 2, 3, 5}, {7, 4}}, {{3, 1, 2, 2}, {3, 5}}, {{1, 1, 5, 7}, {3, 4}}, {{2, 1, 3, 3}, {1, 5}}};
  for (bool ac : {true, false})
    for (const auto& [s, o] : cases)
      EXPECT_TRUE(gradcheck([&](const V& x) { return gn::upsample_bilinear2d(x[0], o.first, o.second, ac); },
                            {uniform(s, gen)}))
          << gn::to_string(s) << " align_corners " << ac;
}

TEST(GradCheck, batch_norm_train) {
  gn::Generator gen(35);
  for (const auto& s : std::vector<Shape>{{3, 2, 3, 5}, {1, 3, 5, 3}, {4, 3}}) {
    const std::int64_t C = s[1];
    // x, weight and bias all checked; running statistics updated on every evaluation (no effect on y).
    EXPECT_TRUE(gradcheck(
        [&](const V& x) {
          Tensor rm = Tensor::zeros({C}, DType::Float64), rv = Tensor::ones({C}, DType::Float64);
          return gn::batch_norm(x[0], rm, rv, x[1], x[2], true, 0.1, 1e-5);
        },
        {uniform(s, gen), uniform({C}, gen, 0.5, 1.5), uniform({C}, gen)}))
        << gn::to_string(s);
    // No affine parameters, no running statistics.
    EXPECT_TRUE(gradcheck([&](const V& x) { return gn::batch_norm(x[0], {}, {}, {}, {}, true); }, {uniform(s, gen)}))
        << gn::to_string(s);
  }
}

TEST(GradCheck, batch_norm_eval) {
  gn::Generator gen(36);
  const Shape s{3, 2, 3, 5};
  const Tensor rm = uniform({2}, gen), rv = uniform({2}, gen, 0.5, 2.0);
  EXPECT_TRUE(gradcheck([&](const V& x) { return gn::batch_norm(x[0], rm, rv, x[1], x[2], false); },
                        {uniform(s, gen), uniform({2}, gen, 0.5, 1.5), uniform({2}, gen)}));
}

// ---- batch norm values ---------------------------------------------------------------------------------------

// x (N=2, C=2, 1, 2): channel 0 holds 1, 2, 3, 6 (mean 3, squared deviations 14: biased variance 3.5,
// unbiased 14/3); channel 1 holds 0, 0, 0, 4 (mean 1, squared deviations 12: 3 and 4).
Tensor bn_input(DType dt) { return make({1, 2, 0, 0, 3, 6, 0, 4}, {2, 2, 1, 2}, dt); }

TEST_P(PoolDtype, BatchNormTrainEvalAndRunningStatisticsAfterTwoSteps) {
  const DType dt = GetParam();
  const double eps = 1e-5, tol = dt == DType::Float32 ? 2e-6 : 1e-12;
  const Tensor w = make({2, -1}, {2}, dt), b = make({0.5, 0}, {2}, dt);
  Tensor rm = Tensor::zeros({2}, dt), rv = Tensor::ones({2}, dt);
  const Tensor x = bn_input(dt);

  // Step 1, training: batch statistics with the biased variance.
  const Tensor y = gn::batch_norm(x, rm, rv, w, b, true, 0.1, eps);
  const double s0 = 2 / std::sqrt(3.5 + eps), s1 = -1 / std::sqrt(3.0 + eps);
  EXPECT_TRUE(all_close(y,
                        {(1 - 3) * s0 + 0.5, (2 - 3) * s0 + 0.5, (0 - 1) * s1, (0 - 1) * s1, (3 - 3) * s0 + 0.5,
                         (6 - 3) * s0 + 0.5, (0 - 1) * s1, (4 - 1) * s1},
                        tol, tol));
  // Running statistics: momentum 0.1 towards the mean and the UNBIASED variance.
  EXPECT_TRUE(all_close(rm, {0.1 * 3, 0.1 * 1}, tol, tol));
  EXPECT_TRUE(all_close(rv, {0.9 + 0.1 * 14.0 / 3.0, 0.9 + 0.1 * 4.0}, tol, tol));

  // Step 2 on 2x: channel 0 mean 6, unbiased variance 56/3; channel 1 mean 2, unbiased variance 16.
  (void)gn::batch_norm(gn::mul(x, 2.0), rm, rv, w, b, true, 0.1, eps);
  const double rm0 = 0.9 * 0.3 + 0.1 * 6, rm1 = 0.9 * 0.1 + 0.1 * 2;
  const double rv0 = 0.9 * (0.9 + 0.1 * 14.0 / 3.0) + 0.1 * 56.0 / 3.0, rv1 = 0.9 * 1.3 + 0.1 * 16;
  EXPECT_TRUE(all_close(rm, {rm0, rm1}, tol, tol));
  EXPECT_TRUE(all_close(rv, {rv0, rv1}, tol, tol));

  // Eval: the running statistics, which do not change.
  const Tensor ye = gn::batch_norm(x, rm, rv, w, b, false, 0.1, eps);
  const double e0 = 2 / std::sqrt(rv0 + eps), e1 = -1 / std::sqrt(rv1 + eps);
  EXPECT_TRUE(all_close(ye,
                        {(1 - rm0) * e0 + 0.5, (2 - rm0) * e0 + 0.5, (0 - rm1) * e1, (0 - rm1) * e1,
                         (3 - rm0) * e0 + 0.5, (6 - rm0) * e0 + 0.5, (0 - rm1) * e1, (4 - rm1) * e1},
                        tol, tol));
  EXPECT_TRUE(all_close(rm, {rm0, rm1}, tol, tol));
  EXPECT_TRUE(all_close(rv, {rv0, rv1}, tol, tol));
}

TEST(BatchNorm, TrainingOutputHasZeroMeanAndUnitVariancePerChannel) {
  gn::Generator gen(40);
  const Tensor x = uniform({3, 4, 5, 7}, gen, -3, 5);
  const Vec y = gn::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-12).to_vector();
  for (int c = 0; c < 4; ++c) {
    double s = 0, sq = 0;
    for (int n = 0; n < 3; ++n)
      for (int i = 0; i < 35; ++i) {
        const double v = y[(n * 4 + c) * 35 + i];
        s += v;
        sq += v * v;
      }
    EXPECT_NEAR(s / 105, 0.0, 1e-12);
    EXPECT_NEAR(sq / 105, 1.0, 1e-9);
  }
}

TEST(BatchNorm, EvalGradientIsTheAffineMap) {
  const Tensor rm = make({1, -1}, {2}), rv = make({3, 0.25}, {2});
  Tensor x = bn_input(DType::Float64).set_requires_grad();
  Tensor w = make({2, -1}, {2}).set_requires_grad();
  Tensor b = make({0.5, 0}, {2}).set_requires_grad();
  gn::backward(gn::sum(gn::batch_norm(x, rm, rv, w, b, false, 0.1, 0.0 + 1e-5)));
  const double k0 = 2 / std::sqrt(3 + 1e-5), k1 = -1 / std::sqrt(0.25 + 1e-5);
  EXPECT_TRUE(all_close(x.grad(), {k0, k0, k1, k1, k0, k0, k1, k1}, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(b.grad(), {4, 4}, 1e-12, 1e-12));
  const double i0 = 1 / std::sqrt(3 + 1e-5), i1 = 1 / std::sqrt(0.25 + 1e-5);
  EXPECT_TRUE(all_close(w.grad(), {(1 + 2 + 3 + 6 - 4 * 1) * i0, (0 + 0 + 0 + 4 + 4 * 1) * i1}, 1e-12, 1e-12));
}

// ---- compositions ----------------------------------------------------------------------------------------------

TEST(PoolCompositions, ChannelBiasAndGlobalAveragePool) {
  const Tensor x = bn_input(DType::Float64);
  EXPECT_TRUE(all_close(gn::add_channel_bias(x, make({10, 20}, {2})), {11, 12, 20, 20, 13, 16, 20, 24}, 0, 0));
  const Tensor g = gn::global_avg_pool2d(x);
  EXPECT_EQ(g.shape(), (Shape{2, 2}));
  EXPECT_TRUE(all_close(g, {1.5, 0, 4.5, 2}, 0, 0));
  gn::Generator gen(41);
  EXPECT_TRUE(gradcheck([](const V& v) { return gn::add_channel_bias(v[0], v[1]); },
                        {uniform({2, 3, 2, 3}, gen), uniform({3}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& v) { return gn::global_avg_pool2d(v[0]); }, {uniform({3, 2, 3, 5}, gen)}));
}

// ---- threading ----------------------------------------------------------------------------------------------

// Every output and gradient, bit for bit, with 1 and with 3 threads (shapes large enough to fork).
TEST(PoolThreads, ResultsDoNotDependOnTheThreadCount) {
  gn::Generator gen(50);
  const Tensor x = distinct({4, 6, 31, 33}, gen), r = uniform({4, 6, 31, 33}, gen);
  const Tensor w = uniform({6}, gen, 0.5, 1.5), b = uniform({6}, gen);
  auto everything = [&] {
    std::vector<Vec> out;
    auto with_grad = [&](const std::function<Tensor(const Tensor&)>& f) {
      Tensor xl = x.clone().set_requires_grad();
      const Tensor y = f(xl);
      gn::backward(gn::sum(y), {});
      out.push_back(y.to_vector());
      out.push_back(xl.grad().to_vector());
    };
    with_grad([](const Tensor& v) { return gn::max_pool2d(v, 3, 2, 1); });
    with_grad([](const Tensor& v) { return gn::upsample_nearest2d(v, 45, 70); });
    with_grad([](const Tensor& v) { return gn::upsample_bilinear2d(v, 45, 70, false); });
    with_grad([&](const Tensor& v) { return gn::mul(gn::batch_norm(v, {}, {}, w, b, true), r); });
    return out;
  };
  const int saved = gn::cpu::num_threads();
  gn::cpu::set_num_threads(1);
  const auto one = everything();
  gn::cpu::set_num_threads(3);
  const auto three = everything();
  gn::cpu::set_num_threads(saved);
  ASSERT_EQ(one.size(), three.size());
  for (std::size_t k = 0; k < one.size(); ++k) EXPECT_EQ(one[k], three[k]) << "result " << k;
}

// ---- errors ------------------------------------------------------------------------------------------------------

TEST(PoolErrors, NameTheOpAndTheShapes) {
  const Tensor x4 = Tensor::zeros({1, 2, 4, 4}, DType::Float64);
  EXPECT_TRUE(throws_error_with([&] { gn::max_pool2d(Tensor::zeros({2, 4, 4}), 2, 2); }, {"max_pool2d", "4-d"}));
  EXPECT_TRUE(throws_error_with([&] { gn::max_pool2d(x4, 2, 2, 2); }, {"max_pool2d", "padding", "half"}));
  EXPECT_TRUE(throws_error_with([&] { gn::max_pool2d(x4, 5, 1); }, {"max_pool2d", "larger"}));
  EXPECT_TRUE(throws_error_with([&] { gn::max_pool2d(x4, 2, 0); }, {"max_pool2d", "stride"}));
  EXPECT_TRUE(throws_error_with(
      [] {
        gn::max_pool2d(Tensor::zeros({1, 1, 0, 4}), 2, 2, 1);
      },
      {"max_pool2d", "empty", "(1, 1, 0, 4)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::max_pool2d(Tensor::from_labels(std::vector<std::int64_t>(16, 0), {1, 1, 4, 4}), 2, 2);
      },
      {"max_pool2d", "int64"}));

  const auto r = gn::max_pool2d_with_indices(x4, 2, 2);
  EXPECT_TRUE(throws_error_with([&] { gn::max_unpool2d(r.values, r.values, 4, 4); }, {"max_unpool2d", "int64"}));
  EXPECT_TRUE(throws_error_with([&] { gn::max_unpool2d(x4, r.indices, 4, 4); }, {"max_unpool2d", "do not match"}));
  EXPECT_TRUE(throws_error_with([&] { gn::max_unpool2d(r.values, r.indices, 0, 4); }, {"max_unpool2d", "positive"}));
  const Tensor bad = Tensor::from_labels(std::vector<std::int64_t>{0, 1, 2, 99}, {1, 1, 2, 2});
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::max_unpool2d(Tensor::zeros({1, 1, 2, 2}), bad, 4, 4);
      },
      {"max_unpool2d", "99", "outside"}));

  EXPECT_TRUE(throws_error_with([&] { gn::upsample_nearest2d(x4, 0, 3); }, {"upsample_nearest2d", "positive"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::upsample_bilinear2d(Tensor::zeros({4, 4}), 8, 8, false);
      },
      {"upsample_bilinear2d", "4-d", "(4, 4)"}));

  const Tensor c2 = Tensor::zeros({2}, DType::Float64);
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::batch_norm(Tensor::zeros({1, 2, 1, 1}, DType::Float64), c2, c2, {}, {}, true);
      },
      {"batch_norm", "more than 1 value"}));
  EXPECT_TRUE(throws_error_with([&] { gn::batch_norm(x4, {}, {}, {}, {}, false); }, {"batch_norm", "eval"}));
  EXPECT_TRUE(throws_error_with([&] { gn::batch_norm(x4, c2, c2, Tensor::ones({3}, DType::Float64), {}, true); },
                                {"batch_norm", "weight", "(3,)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::batch_norm(x4, Tensor::zeros({2}), c2, {}, {}, true); },
                                {"batch_norm", "running_mean", "float32"}));
  EXPECT_TRUE(throws_error_with([&] { gn::batch_norm(Tensor::zeros({4}), {}, {}, {}, {}, true); },
                                {"batch_norm", "at least 2"}));
}

}  // namespace
