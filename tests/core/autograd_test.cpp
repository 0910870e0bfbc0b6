// The autograd engine: graph shapes, accumulation, grad() to cut points, no_grad, and error messages.
#include "core/autograd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/ops.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using gn_test::all_close;
using gn_test::throws_error_with;
using ::testing::HasSubstr;
using Vec = std::vector<double>;

Tensor leaf(const Vec& v, const Shape& s) { return Tensor::from_vector(v, s, DType::Float64).set_requires_grad(); }

std::vector<Tensor> grad_of(const Tensor& out, std::vector<Tensor> inputs) {
  const Tensor outs[] = {out};
  return gn::grad(outs, inputs);
}

TEST(Autograd, SharedSubexpressionXTimesXPlusX) {
  // y = x*x + x: x feeds mul twice and add once; dy/dx = 2x + 1.
  Tensor x = leaf({1.5, -2, 0.25}, {3});
  gn::backward(gn::sum(gn::add(gn::mul(x, x), x)));
  EXPECT_TRUE(all_close(x.grad(), {4, -3, 1.5}, 1e-15, 0));
}

TEST(Autograd, DiamondGraph) {
  // a = 2x; b = exp(a); c = a * 3; L = sum(b * c). dL/dx = 2 (exp(a) * 3a + 3 exp(a)).
  Tensor x = leaf({0.3, -0.7}, {2});
  const Tensor a = gn::mul(x, 2.0);
  const Tensor L = gn::sum(gn::mul(gn::exp(a), gn::mul(a, 3.0)));
  gn::backward(L);
  Vec ref;
  for (double v : {0.3, -0.7}) ref.push_back(2 * (std::exp(2 * v) * 3 * 2 * v + 3 * std::exp(2 * v)));
  EXPECT_TRUE(all_close(x.grad(), ref, 1e-13, 1e-13));
  // The intermediate a is not a leaf: backward leaves no .grad() on it.
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(a.is_leaf());
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf({1, 2}, {2});
  gn::backward(gn::sum(gn::mul(x, 3.0)));
  EXPECT_EQ(x.grad().to_vector(), (Vec{3, 3}));
  const Tensor first = x.grad();
  gn::backward(gn::sum(gn::mul(x, x)));  // a different graph: adds 2x
  EXPECT_EQ(x.grad().to_vector(), (Vec{5, 7}));
  // set_grad(undefined) clears.
  x.set_grad(Tensor());
  gn::backward(gn::sum(x));
  EXPECT_EQ(x.grad().to_vector(), (Vec{1, 1}));
  EXPECT_EQ(first.to_vector(), (Vec{5, 7})) << "accumulation into the existing .grad() happens in place";
}

TEST(Autograd, BackwardTwiceOverSameGraphDoubles) {
  Tensor x = leaf({0.5, -1, 2}, {3});
  Tensor w = leaf({1, 2, 3}, {3});
  const Tensor L = gn::sum(gn::tanh(gn::mul(x, w)));
  gn::backward(L);
  const Vec gx = x.grad().to_vector(), gw = w.grad().to_vector();
  gn::backward(L);
  Vec gx2 = gx, gw2 = gw;
  for (auto& v : gx2) v *= 2;
  for (auto& v : gw2) v *= 2;
  EXPECT_TRUE(all_close(x.grad(), gx2, 1e-15, 1e-15));
  EXPECT_TRUE(all_close(w.grad(), gw2, 1e-15, 1e-15));
}

TEST(Autograd, BackwardWithSeed) {
  Tensor x = leaf({1, 2, 3}, {3});
  const Tensor y = gn::mul(x, x);
  gn::backward(y, Tensor::from_vector(Vec{1, 10, 100}, {3}, DType::Float64));
  EXPECT_EQ(x.grad().to_vector(), (Vec{2, 40, 600}));
}

TEST(Autograd, GradToCutPoint) {
  gn::Generator gen(3);
  Tensor x = gn_test::uniform({3, 2}, gen).set_requires_grad();
  Tensor w = gn_test::uniform({3, 2}, gen).set_requires_grad();
  const Tensor h = gn::mul(x, w);  // cut point
  const Tensor L = gn::sum(gn::pow(gn::tanh(h), 2.0));
  const auto gh = grad_of(L, {h});
  ASSERT_EQ(gh.size(), 1u);
  ASSERT_EQ(gh[0].shape(), h.shape());
  // d/dh sum(tanh(h)^2) = 2 tanh(h) (1 - tanh(h)^2)
  Vec ref;
  for (double v : h.to_vector()) ref.push_back(2 * std::tanh(v) * (1 - std::tanh(v) * std::tanh(v)));
  EXPECT_TRUE(all_close(gh[0], ref, 1e-14, 1e-13));
  // Nothing below the cut was touched.
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  // Chain rule: backward from the cut seeded with dL/dh equals the full backward.
  gn::backward(h, gh[0]);
  const Vec via_cut_x = x.grad().to_vector(), via_cut_w = w.grad().to_vector();
  x.set_grad(Tensor());
  w.set_grad(Tensor());
  gn::backward(L);
  EXPECT_TRUE(all_close(via_cut_x, x.grad().to_vector(), 1e-15, 1e-14));
  EXPECT_TRUE(all_close(via_cut_w, w.grad().to_vector(), 1e-15, 1e-14));
}

TEST(Autograd, BackwardToCutAccumulatesAboveAndReturnsTheCutGradient) {
  // trunk: h = tanh(x * w_trunk); head: L = sum((h * w_head)^2). Cut at h.
  gn::Generator gen(4);
  Tensor x = gn_test::uniform({4, 3}, gen);
  Tensor w_trunk = gn_test::uniform({4, 3}, gen).set_requires_grad();
  Tensor w_head = gn_test::uniform({3}, gen).set_requires_grad();
  const Tensor h = gn::tanh(gn::mul(x, w_trunk));
  const Tensor L = gn::sum(gn::pow(gn::mul(h, w_head), 2.0));
  const Tensor roots[] = {L}, cuts[] = {h};
  const auto gh = gn::backward_to(roots, {}, cuts);
  ASSERT_EQ(gh.size(), 1u);
  EXPECT_FALSE(w_trunk.grad().defined()) << "nothing below the cut is visited";
  ASSERT_TRUE(w_head.grad().defined()) << "leaves between the root and the cut accumulate";
  // dL/dw_head[j] = sum_i 2 (h w)_ij h_ij;  dL/dh = 2 (h w) w.
  const Vec hv = h.to_vector(), wv = w_head.to_vector();
  Vec gw(3, 0.0), ghr(12);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) {
      const double hw = hv[i * 3 + j] * wv[j];
      gw[j] += 2 * hw * hv[i * 3 + j];
      ghr[i * 3 + j] = 2 * hw * wv[j];
    }
  EXPECT_TRUE(all_close(w_head.grad(), gw, 1e-14, 1e-13));
  EXPECT_TRUE(all_close(gh[0], ghr, 1e-14, 1e-13));
  // Finishing from the cut gives the trunk what a full backward gives it.
  gn::backward(h, gh[0]);
  const Vec via_cut = w_trunk.grad().to_vector();
  w_trunk.set_grad(Tensor());
  w_head.set_grad(Tensor());
  gn::backward(L);
  EXPECT_TRUE(all_close(via_cut, w_trunk.grad().to_vector(), 1e-15, 1e-14));
  EXPECT_TRUE(all_close(w_head.grad(), gw, 1e-14, 1e-13));
}

TEST(Autograd, GradToLeavesAndIntermediateTogether) {
  Tensor x = leaf({1, 2}, {2});
  Tensor c = leaf({3, 4}, {2});
  Tensor side = leaf({0.5, 0.25}, {2});  // a leaf above the cuts that is not asked for
  const Tensor h = gn::mul(x, 2.0);
  const Tensor L = gn::sum(gn::mul(gn::mul(h, c), side));  // dL/dh = c side, dL/dc = h side
  const auto g = grad_of(L, {c, h});
  EXPECT_EQ(g[0].to_vector(), (Vec{1, 1}));
  EXPECT_EQ(g[1].to_vector(), (Vec{1.5, 1}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(c.grad().defined()) << "grad() never writes leaf .grad()";
  EXPECT_FALSE(side.grad().defined()) << "grad() never writes leaf .grad(), even above the cuts";
}

TEST(Autograd, GradOfUnusedInputIsZeros) {
  Tensor x = leaf({1, 2}, {2});
  Tensor unused = leaf({5, 6, 7}, {3});
  const auto g = grad_of(gn::sum(gn::mul(x, x)), {x, unused});
  EXPECT_EQ(g[0].to_vector(), (Vec{2, 4}));
  ASSERT_TRUE(g[1].defined());
  EXPECT_EQ(g[1].shape(), Shape{3});
  EXPECT_EQ(g[1].to_vector(), (Vec{0, 0, 0}));
}

TEST(Autograd, GradWithMultipleOutputsAndSeeds) {
  Tensor x = leaf({1, 2}, {2});
  const Tensor y1 = gn::mul(x, x), y2 = gn::sum(gn::mul(x, 3.0));
  const Tensor outs[] = {y1, y2};
  const Tensor seeds[] = {Tensor::from_vector(Vec{1, -1}, {2}, DType::Float64), Tensor()};
  const Tensor ins[] = {x};
  const auto g = gn::grad(outs, ins, seeds);
  EXPECT_EQ(g[0].to_vector(), (Vec{2 * 1 + 3, -2 * 2 + 3}));
}

TEST(Autograd, NoGradRecordsNothingAndNests) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_TRUE(gn::grad_enabled());
  {
    gn::NoGradGuard outer;
    EXPECT_FALSE(gn::grad_enabled());
    const Tensor y = gn::mul(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_EQ(y.to_vector(), (Vec{1, 4})) << "no_grad still computes";
    {
      gn::NoGradGuard inner;
      EXPECT_FALSE(gn::grad_enabled());
    }
    EXPECT_FALSE(gn::grad_enabled()) << "leaving the inner guard must not re-enable grad";
  }
  EXPECT_TRUE(gn::grad_enabled());
  const Tensor z = gn::mul(x, x);
  EXPECT_TRUE(z.requires_grad());
  ASSERT_NE(z.grad_fn(), nullptr);
  EXPECT_EQ(z.grad_fn()->name, "mul");
}

TEST(Autograd, OpsOnTensorsWithoutGradRecordNothing) {
  const Tensor a = Tensor::ones({2}, DType::Float64);
  const Tensor y = gn::exp(gn::add(a, a));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(Autograd, DetachCutsHistoryAndSharesStorage) {
  Tensor x = leaf({1, 2}, {2});
  const Tensor y = gn::mul(x, 3.0);
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.grad_fn(), nullptr);
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.raw_data(), y.raw_data());
  // Gradient flows through y but not through d.
  gn::backward(gn::sum(gn::add(gn::mul(y, 1.0), gn::mul(d, x))));  // d/dx = 3 + d = 3 + 3x
  EXPECT_EQ(x.grad().to_vector(), (Vec{6, 9}));
}

TEST(Autograd, SliceAndReshapeGradientsReachTheBase) {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {3, 2});
  gn::backward(gn::sum(gn::mul(x.slice(1, 3).reshape({4}), Tensor::from_vector(Vec{1, 2, 3, 4}, {4}, DType::Float64))));
  EXPECT_EQ(x.grad().to_vector(), (Vec{0, 0, 1, 2, 3, 4}));
}

// ---- error cases ----

TEST(AutogradErrors, BackwardOfNonScalarWithoutSeed) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_TRUE(throws_error_with([&] { gn::backward(gn::mul(x, x)); }, {"backward", "(2,)", "seed"}));
}

TEST(AutogradErrors, BackwardOfTensorNotRequiringGrad) {
  const Tensor x = Tensor::ones({2}, DType::Float64);
  EXPECT_TRUE(throws_error_with([&] { gn::backward(gn::sum(x)); }, {"does not require grad"}));
  Tensor y = leaf({1}, {1});
  Tensor z;
  {
    gn::NoGradGuard ng;
    z = gn::sum(y);
  }
  EXPECT_TRUE(throws_error_with([&] { gn::backward(z); }, {"does not require grad"}));
}

TEST(AutogradErrors, SeedShapeMismatch) {
  Tensor x = leaf({1, 2}, {2});
  const Tensor y = gn::mul(x, x);
  EXPECT_TRUE(throws_error_with([&] { gn::backward(y, Tensor::ones({3}, DType::Float64)); }, {"seed", "(3,)", "(2,)"}));
}

TEST(AutogradErrors, SeedDtypeAndCountMismatch) {
  Tensor x = leaf({1, 2}, {2});
  const Tensor y = gn::mul(x, x);
  EXPECT_TRUE(
      throws_error_with([&] { gn::backward(y, Tensor::ones({2}, DType::Float32)); }, {"backward", "dtype mismatch"}));
  const Tensor roots[] = {y};
  const Tensor seeds[] = {Tensor::ones({2}, DType::Float64), Tensor::ones({2}, DType::Float64)};
  EXPECT_TRUE(throws_error_with([&] { gn::backward(roots, seeds); }, {"backward", "2 seeds for 1 outputs"}));
}

TEST(AutogradErrors, SetGradAndInPlaceShapeMismatch) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_TRUE(throws_error_with([&] { x.set_grad(Tensor::ones({3}, DType::Float64)); }, {"set_grad", "(3,)", "(2,)"}));
  Tensor a = Tensor::ones({2, 3});
  EXPECT_TRUE(throws_error_with([&] { gn::add_(a, Tensor::ones({3})); }, {"(2, 3)", "(3,)", "do not broadcast"}));
}

TEST(AutogradErrors, GradInputNotRequiringGrad) {
  Tensor x = leaf({1, 2}, {2});
  const Tensor c = Tensor::ones({2}, DType::Float64);
  EXPECT_TRUE(throws_error_with([&] { grad_of(gn::sum(gn::mul(x, c)), {c}); }, {"grad", "does not require grad"}));
}

TEST(AutogradErrors, BinaryShapeMismatchNamesOpAndShapes) {
  const Tensor a = Tensor::ones({2, 3}), b = Tensor::ones({4});
  try {
    gn::add(a, b);
    FAIL() << "add of (2, 3) and (4,) did not throw";
  } catch (const gn::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("add"));
    EXPECT_THAT(e.what(), HasSubstr("(2, 3)"));
    EXPECT_THAT(e.what(), HasSubstr("(4,)"));
  }
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::mul(Tensor::ones({3, 2}), Tensor::ones({2, 3}));
      },
      {"mul", "(3, 2)", "(2, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::div(Tensor::ones({5}), Tensor::ones({4})); }, {"div", "(5,)", "(4,)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::mse_loss(Tensor::ones({5}), Tensor::ones({4})); }, {"mse_loss", "(5,)"}));
}

TEST(AutogradErrors, DtypeMismatch) {
  const Tensor a = Tensor::ones({2}, DType::Float32), b = Tensor::ones({2}, DType::Float64);
  EXPECT_THAT([&] { gn::add(a, b); }, ::testing::ThrowsMessage<gn::Error>(HasSubstr("dtype mismatch")));
  EXPECT_TRUE(throws_error_with([&] { gn::add(a, b); }, {"add", "float32", "float64"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::matmul(Tensor::ones({2, 2}), Tensor::ones({2, 2}, DType::Float64));
      },
      {"matmul", "float32", "float64"}));
  const Tensor labels = Tensor::zeros({2}, DType::Int64);
  EXPECT_TRUE(throws_error_with([&] { gn::exp(labels); }, {"exp", "int64"}));
}

TEST(AutogradErrors, SetRequiresGradOnInt64) {
  Tensor t = Tensor::zeros({2}, DType::Int64);
  EXPECT_TRUE(throws_error_with([&] { t.set_requires_grad(); }, {"set_requires_grad", "int64"}));
  EXPECT_FALSE(t.requires_grad());
  // Non-leaves cannot change requires_grad either.
  Tensor x = leaf({1}, {1});
  Tensor y = gn::mul(x, 2.0);
  EXPECT_TRUE(throws_error_with([&] { y.set_requires_grad(false); }, {"leaf", "mul"}));
}

TEST(AutogradErrors, ReshapeToWrongNumel) {
  const Tensor x = Tensor::ones({2, 3});
  EXPECT_TRUE(throws_error_with([&] { x.reshape({4, 2}); }, {"reshape", "(4, 2)", "8", "6"}));
  EXPECT_TRUE(throws_error_with([&] { x.reshape({4, -1}); }, {"reshape", "-1"}));
  EXPECT_TRUE(throws_error_with([&] { x.reshape({-1, -1}); }, {"reshape", "more than one -1"}));
}

TEST(AutogradErrors, SliceOutOfRange) {
  const Tensor x = Tensor::ones({3, 2});
  EXPECT_TRUE(throws_error_with([&] { x.slice(1, 4); }, {"slice", "[1, 4)", "(3, 2)"}));
  EXPECT_TRUE(throws_error_with([&] { x.slice(2, 1); }, {"slice"}));
  EXPECT_TRUE(throws_error_with([&] { x.slice(-1, 1); }, {"slice"}));
  EXPECT_TRUE(throws_error_with([&] { Tensor::scalar(1).slice(0, 1); }, {"slice", "0-d"}));
}

TEST(AutogradErrors, MatmulInnerDimMismatch) {
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::matmul(Tensor::ones({2, 3}), Tensor::ones({4, 5}));
      },
      {"matmul", "(2, 3)", "(4, 5)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::linear(Tensor::ones({2, 3}), Tensor::ones({4, 5}), Tensor());
      },
      {"linear", "(2, 3)", "(4, 5)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::linear(Tensor::ones({2, 3}), Tensor::ones({4, 3}), Tensor::ones({3}));
      },
      {"linear", "bias", "(3,)"}));
}

TEST(AutogradErrors, CrossEntropyLabelOutOfRange) {
  const Tensor z = Tensor::ones({2, 3});
  const std::vector<std::int64_t> bad = {1, 7}, neg = {-1, 0}, ok = {0, 1};
  EXPECT_TRUE(throws_error_with([&] { gn::cross_entropy(z, Tensor::from_labels(bad, {2})); },
                                {"cross_entropy", "label 7", "[0, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::cross_entropy(z, Tensor::from_labels(neg, {2})); }, {"label -1"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::cross_entropy(z, Tensor::from_labels(ok, {1, 2}));
      },
      {"cross_entropy", "(1, 2)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::cross_entropy(z, Tensor::zeros({2})); }, {"cross_entropy", "int64"}));
}

TEST(AutogradErrors, AxisOutOfRange) {
  const Tensor x = Tensor::ones({2, 3});
  EXPECT_TRUE(throws_error_with([&] { gn::sum(x, 2); }, {"sum", "axis 2"}));
  EXPECT_TRUE(throws_error_with([&] { gn::transpose(x, 0, -3); }, {"transpose", "axis -3"}));
  const std::int64_t sizes[] = {1, 1};
  EXPECT_TRUE(throws_error_with([&] { gn::split(x, sizes, 1); }, {"split", "3"}));
  const Tensor xs[] = {x, Tensor::ones({3, 3})};
  EXPECT_TRUE(throws_error_with([&] { gn::concat(xs, 1); }, {"concat", "(3, 3)"}));
}

}  // namespace
