// Edge cases of the ops and the engine: empty extents, K = 0 products, scalar roots, outputs as their own cuts.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/shape.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using Vec = std::vector<double>;

TEST(ForwardEdgeCases, EmptyTensors) {
  const DType d = DType::Float64;
  // K = 0: an empty product is all zeros; linear is then just the bias.
  EXPECT_EQ(gn::matmul(Tensor::ones({2, 0}, d), Tensor::ones({0, 3}, d)).to_vector(), Vec(6, 0.0));
  const Tensor bias = Tensor::from_vector(Vec{1, 2}, {2}, d);
  EXPECT_EQ(gn::linear(Tensor::ones({3, 0}, d), Tensor::ones({2, 0}, d), bias).to_vector(), (Vec{1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(gn::matmul(Tensor::ones({0, 4}, d), Tensor::ones({4, 3}, d)).shape(), (Shape{0, 3}));
  // Reductions over empty extents.
  EXPECT_EQ(gn::sum(Tensor::ones({0}, d)).item(), 0.0);
  EXPECT_EQ(gn::sum(Tensor::ones({3, 0}, d), 1).to_vector(), Vec(3, 0.0));
  EXPECT_EQ(gn::sum(Tensor::ones({3, 0}, d), 0).shape(), Shape{0});
  EXPECT_TRUE(gn_test::throws_error_with([&] { gn::mean(Tensor::ones({0}, d)); }, {"mean", "empty"}));
  // One rule for losses too (core/ops.h): the mean of nothing is an error, a fully masked loss is 0.
  EXPECT_TRUE(gn_test::throws_error_with(
      [&] {
        gn::mse_loss(Tensor::ones({0, 2}, d), Tensor::ones({0, 2}, d));
      },
      {"mse_loss", "empty"}));
  Tensor logits = Tensor::ones({2, 3}, d).set_requires_grad();
  const Tensor all_ignored = Tensor::from_labels(std::vector<std::int64_t>{-1, -1}, {2});
  const Tensor ce = gn::cross_entropy(logits, all_ignored, -1);
  EXPECT_EQ(ce.item(), 0.0);
  gn::backward(ce);
  EXPECT_EQ(logits.grad().to_vector(), Vec(6, 0.0));
  // Elementwise and shape ops on empty tensors.
  EXPECT_EQ(gn::add(Tensor::ones({0, 3}, d), Tensor::ones({3}, d)).shape(), (Shape{0, 3}));
  EXPECT_EQ(gn::transpose(Tensor::ones({2, 0, 3}, d), 0, 2).shape(), (Shape{3, 0, 2}));
  const Tensor parts[] = {Tensor::ones({0, 2}, d), Tensor::full({1, 2}, 5, d)};
  EXPECT_EQ(gn::concat(parts, 0).to_vector(), (Vec{5, 5}));
  // Gradients through empty pieces are empty or zero, never garbage.
  Tensor x = Tensor::from_vector(Vec{1, 2, 3}, {3}, d).set_requires_grad();
  gn::backward(gn::add(gn::sum(gn::slice(x, 1, 1)), gn::sum(gn::mul(x, 0.0))));
  EXPECT_EQ(x.grad().to_vector(), Vec(3, 0.0));
}

TEST(ForwardEdgeCases, ScalarRootsAndSelfCuts) {
  Tensor s = Tensor::scalar(2.0, DType::Float64).set_requires_grad();
  gn::backward(s);
  EXPECT_EQ(s.grad().item(), 1.0);
  const Tensor y = gn::mul(s, s);
  const Tensor outs[] = {y}, ins[] = {y};
  EXPECT_EQ(gn::grad(outs, ins)[0].item(), 1.0) << "d y / d y";
  const Tensor y1 = gn::mul(s, 3.0);
  const Tensor outs1[] = {y1}, ins1[] = {s};
  EXPECT_EQ(gn::grad(outs1, ins1)[0].item(), 3.0);
}

// pow(x, 0) = 1 for every x, so its gradient is 0, also at x = 0 (0 * pow(0, -1) would be 0 * inf = NaN),
// as in PyTorch.
TEST(ForwardEdgeCases, PowZeroHasZeroGradientAtZero) {
  Tensor x = Tensor::from_vector(Vec{0.0, -2.0, 3.0}, {3}, DType::Float64).set_requires_grad();
  gn::backward(gn::sum(gn::pow(x, 0.0)));
  EXPECT_EQ(x.grad().to_vector(), Vec(3, 0.0));
  Tensor y = Tensor::from_vector(Vec{0.0, 2.0}, {2}, DType::Float64).set_requires_grad();
  gn::backward(gn::sum(gn::pow(y, 2.0)));
  EXPECT_EQ(y.grad().to_vector(), (Vec{0.0, 4.0})) << "other exponents unchanged";
}

// Element and byte counts never wrap: a shape whose size overflows is refused with a clear error.
TEST(SizeOverflow, CountsAreChecked) {
  const std::int64_t big = std::int64_t{1} << 61;
  EXPECT_TRUE(gn_test::throws_error_with([&] { Tensor::empty({big}, DType::Float64); }, {"byte count", "overflows"}));
  EXPECT_TRUE(gn_test::throws_error_with([&] { Tensor::empty({big, big}, DType::Float32); }, {"overflows"}));
  EXPECT_TRUE(gn_test::throws_error_with([&] { gn::numel(Shape{3, -2}); }, {"negative"}));
  EXPECT_TRUE(gn_test::throws_error_with(
      [&] {
        gn::reshape(Tensor::ones({4}, DType::Float32), {big, big, -1});
      },
      {"reshape", "overflows"}));
  gn::Generator gen(1);
  EXPECT_THROW(Tensor::randn({big}, gen), gn::Error) << "refused before any draw, not a std::bad_alloc";
  EXPECT_EQ(gn::checked_mul(3, 5, "x"), 15);
  EXPECT_THROW(gn::checked_mul(big, 8, "x"), gn::Error);
}

// A size that fits 64 bits but not the machine is a gn::Error naming the size, not std::bad_alloc.
TEST(SizeOverflow, ImpossibleAllocationIsAClearError) {
  EXPECT_TRUE(
      gn_test::throws_error_with([&] { Tensor::empty({std::int64_t{1} << 58}, DType::Float32); }, {"cannot allocate"}));
}

}  // namespace
