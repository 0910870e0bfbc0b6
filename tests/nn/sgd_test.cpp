// SGD against steps computed by hand: p0 = [1, -2, 3], lr = 0.1, grads g1 = [0.5, 1, -1] then g2 = [1, -0.5, 2].
#include "nn/sgd.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "error_of.h"

namespace gn::nn {
namespace {

const std::vector<double> kP0 = {1, -2, 3};
const std::vector<double> kG1 = {0.5, 1, -1};
const std::vector<double> kG2 = {1, -0.5, 2};

// Runs two SGD steps on kP0 with kG1, kG2 in `dtype` and returns the parameter after each.
std::vector<std::vector<double>> two_steps(double momentum, double weight_decay, DType dtype = DType::Float64) {
  Tensor p = Tensor::from_vector(kP0, {3}, dtype).set_requires_grad();
  SGD opt({p}, 0.1, momentum, weight_decay);
  std::vector<std::vector<double>> out;
  for (const auto& g : {kG1, kG2}) {
    p.set_grad(Tensor::from_vector(g, {3}, dtype));
    opt.step();
    out.push_back(p.to_vector());
  }
  return out;
}

// The hand-computed values are exact decimals; the kernel's float64 result is within a few roundings of
// values below 4 (ulp 4.4e-16 each).
constexpr double kTol = 1e-14;

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(SGD, PlainStepsMatchHandComputation) {
  // p1 = p0 - 0.1 g1;  p2 = p1 - 0.1 g2
  const auto p = two_steps(0, 0);
  expect_near(p[0], {0.95, -2.1, 3.1}, kTol);
  expect_near(p[1], {0.85, -2.05, 2.9}, kTol);
}

TEST(SGD, MomentumStepsMatchHandComputation) {
  // buf1 = g1 (first step, PyTorch's convention); p1 = p0 - 0.1 buf1 = [0.95, -2.1, 3.1]
  // buf2 = 0.9 buf1 + g2 = [1.45, 0.4, 1.1];  p2 = p1 - 0.1 buf2 = [0.805, -2.14, 2.99]
  const auto p = two_steps(0.9, 0);
  expect_near(p[0], {0.95, -2.1, 3.1}, kTol);
  expect_near(p[1], {0.805, -2.14, 2.99}, kTol);
}

TEST(SGD, WeightDecayStepsMatchHandComputation) {
  // d1 = g1 + 0.01 p0 = [0.51, 0.98, -0.97];  p1 = p0 - 0.1 d1 = [0.949, -2.098, 3.097]
  // d2 = g2 + 0.01 p1 = [1.00949, -0.52098, 2.03097];  p2 = p1 - 0.1 d2 = [0.848051, -2.045902, 2.893903]
  const auto p = two_steps(0, 0.01);
  expect_near(p[0], {0.949, -2.098, 3.097}, kTol);
  expect_near(p[1], {0.848051, -2.045902, 2.893903}, kTol);
}

TEST(SGD, MomentumAndWeightDecayStepsMatchHandComputation) {
  // buf1 = d1 = [0.51, 0.98, -0.97];  p1 = [0.949, -2.098, 3.097]
  // buf2 = 0.9 buf1 + d2 = [0.459 + 1.00949, 0.882 - 0.52098, -0.873 + 2.03097] = [1.46849, 0.36102, 1.15797]
  // p2 = p1 - 0.1 buf2 = [0.802151, -2.134102, 2.981203]
  const auto p = two_steps(0.9, 0.01);
  expect_near(p[0], {0.949, -2.098, 3.097}, kTol);
  expect_near(p[1], {0.802151, -2.134102, 2.981203}, kTol);
}

TEST(SGD, Float32MatchesTheSameNumbers) {
  // Each value passes through a handful of float32 roundings of magnitude <= 3: a few ulps of 3 (~2.4e-7).
  const auto p = two_steps(0.9, 0.01, DType::Float32);
  expect_near(p[1], {0.802151, -2.134102, 2.981203}, 1e-6);
}

TEST(SGD, SkipsParametersWithoutGradAndStartsTheirMomentumLate) {
  Tensor a = Tensor::from_vector(kP0, {3}, DType::Float64).set_requires_grad();
  Tensor b = Tensor::from_vector(kP0, {3}, DType::Float64).set_requires_grad();
  SGD opt({a, b}, 0.1, 0.9);
  a.set_grad(Tensor::from_vector(kG1, {3}, DType::Float64));
  opt.step();  // b has no grad yet: untouched
  EXPECT_EQ(b.to_vector(), kP0);
  b.set_grad(Tensor::from_vector(kG2, {3}, DType::Float64));
  opt.step();
  // b's first step: its buffer starts as g2, not 0.9 * 0 + g2 decayed from a step it never had.
  expect_near(b.to_vector(), {0.9, -1.95, 2.8}, kTol);
  expect_near(opt.momentum_buffers()[1].to_vector(), kG2, 0);
}

TEST(SGD, StateIsAllocatedOnceAndStepsFollowBackward) {
  // loss = sum(p^2) has grad 2p; lr 0.25, momentum 0.5. Steps driven by backward, as in training.
  Tensor p = Tensor::from_vector(kP0, {3}, DType::Float64).set_requires_grad();
  SGD opt({p}, 0.25, 0.5);
  void* buffer = opt.momentum_buffers()[0].raw_data();
  void* storage = p.raw_data();
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    backward(sum(p * p));
    opt.step();
  }
  EXPECT_EQ(opt.momentum_buffers()[0].raw_data(), buffer);
  EXPECT_EQ(p.raw_data(), storage);
  // buf1 = 2 p0, p1 = p0 - 0.5 p0 = 0.5 p0; buf2 = 0.5 * 2 p0 + 2 * 0.5 p0 = 2 p0, p2 = 0.5 p0 - 0.5 p0 = 0;
  // buf3 = 0.5 * 2 p0 + 0 = p0, p3 = -0.25 p0.
  expect_near(p.to_vector(), {-0.25, 0.5, -0.75}, kTol);
  EXPECT_TRUE(SGD({p}, 0.1).momentum_buffers().empty());
}

TEST(SGD, BadArgumentsNameTheValue) {
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  EXPECT_NE(error_of([&] { SGD({p}, -0.5); }).find("SGD: learning rate must be > 0, got -0.5"), std::string::npos);
  EXPECT_NE(error_of([&] { SGD({p}, 0); }).find("got 0"), std::string::npos);
  EXPECT_NE(error_of([&] { SGD({p}, 0.1, -0.9); }).find("SGD: momentum must be >= 0, got -0.9"), std::string::npos);
  EXPECT_NE(error_of([&] { SGD({p}, 0.1, 0, -1e-4); }).find("weight_decay must be >= 0, got -0.0001"),
            std::string::npos);
  EXPECT_NE(error_of([&] { SGD({p, p}, 0.1); }).find("appears more than once"), std::string::npos);
  EXPECT_NE(error_of([&] { SGD({}, 0.1); }).find("empty parameter list"), std::string::npos);
  SGD opt({p}, 0.1);
  EXPECT_NE(error_of([&] { opt.set_lr(-1); }).find("got -1"), std::string::npos);
  // A gradient of the wrong dtype is refused where it is attached, so the optimizer never sees one.
  EXPECT_NE(error_of([&] { p.set_grad(Tensor::zeros({2}, DType::Float64)); }).find("set_grad: dtype mismatch"),
            std::string::npos);
}

}  // namespace
}  // namespace gn::nn
