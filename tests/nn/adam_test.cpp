// Adam against two steps computed in the test with plain double arithmetic, written from the paper's
// formula (mhat / (sqrt(vhat) + eps)) rather than the kernel's rearranged form.
#include "nn/adam.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/rng.h"
#include "error_of.h"
#include "tests/cuda_test_support.h"

namespace gn::nn {
namespace {

const std::vector<double> kP0 = {1, -2, 3};
const std::vector<std::vector<double>> kGrads = {{0.5, 1, -1}, {1, -0.5, 2}};
constexpr double kLr = 0.1, kB1 = 0.9, kB2 = 0.999, kEps = 1e-8;

// The reference: p after each step, one element at a time.
std::vector<std::vector<double>> reference(double weight_decay) {
  std::vector<double> p = kP0, m(3, 0.0), v(3, 0.0);
  std::vector<std::vector<double>> out;
  for (std::size_t t = 1; t <= kGrads.size(); ++t) {
    for (std::size_t i = 0; i < 3; ++i) {
      const double g = kGrads[t - 1][i] + weight_decay * p[i];
      m[i] = kB1 * m[i] + (1 - kB1) * g;
      v[i] = kB2 * v[i] + (1 - kB2) * g * g;
      const double mhat = m[i] / (1 - std::pow(kB1, static_cast<double>(t)));
      const double vhat = v[i] / (1 - std::pow(kB2, static_cast<double>(t)));
      p[i] -= kLr * mhat / (std::sqrt(vhat) + kEps);
    }
    out.push_back(p);
  }
  return out;
}

std::vector<std::vector<double>> run_adam(double weight_decay, DType dtype) {
  Tensor p = Tensor::from_vector(kP0, {3}, dtype).set_requires_grad();
  Adam opt({p}, kLr, kB1, kB2, kEps, weight_decay);
  std::vector<std::vector<double>> out;
  for (const auto& g : kGrads) {
    p.set_grad(Tensor::from_vector(g, {3}, dtype));
    opt.step();
    out.push_back(p.to_vector());
  }
  EXPECT_EQ(opt.steps()[0], 2);
  return out;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(Adam, FirstStepMovesEachParameterByLrTimesSignOfGrad) {
  // Step 1: mhat = g, vhat = g^2, so p -= lr * g / (|g| + eps) = lr * sign(g) up to lr * eps / |g| <= 2e-9.
  const auto p = run_adam(0, DType::Float64);
  expect_near(p[0], {0.9, -2.1, 3.1}, 1e-8);
}

TEST(Adam, TwoStepsMatchReferenceInFloat64) {
  const auto ref = reference(0);
  const auto p = run_adam(0, DType::Float64);
  // The reference and the kernel differ only in rounding order: a few ulps of values ~3.
  expect_near(p[0], ref[0], 1e-14);
  expect_near(p[1], ref[1], 1e-14);
  // Spelled out (from the same formula): the second step is smaller than lr where the gradient changed sign.
  expect_near(p[1], {0.8034818006385093, -2.1266337026290967, 3.0633896465279253}, 1e-12);
}

TEST(Adam, TwoStepsWithWeightDecayMatchReference) {
  const auto ref = reference(0.1);
  const auto p = run_adam(0.1, DType::Float64);
  expect_near(p[0], ref[0], 1e-14);
  expect_near(p[1], ref[1], 1e-14);
  expect_near(p[1], {0.8025029703202308, -2.1006958914927063, 3.048204577057122}, 1e-12);
}

TEST(Adam, TwoStepsMatchReferenceInFloat32) {
  // float32 state and arithmetic: relative error a few times FLT_EPSILON (1.2e-7) on values up to 3.
  const auto ref = reference(0);
  const auto p = run_adam(0, DType::Float32);
  expect_near(p[1], ref[1], 2e-6);
}

TEST(Adam, SkippedParameterKeepsItsOwnStepCount) {
  Tensor a = Tensor::from_vector(kP0, {3}, DType::Float64).set_requires_grad();
  Tensor b = Tensor::from_vector(kP0, {3}, DType::Float64).set_requires_grad();
  Adam opt({a, b}, kLr, kB1, kB2, kEps);
  void* m_storage = opt.exp_avg()[1].raw_data();
  a.set_grad(Tensor::from_vector(kGrads[0], {3}, DType::Float64));
  opt.step();
  EXPECT_EQ(b.to_vector(), kP0);
  b.set_grad(Tensor::from_vector(kGrads[0], {3}, DType::Float64));
  opt.step();
  EXPECT_EQ(opt.steps(), (std::vector<std::int64_t>{2, 1}));
  // b's first update has t = 1: bias correction makes it lr * sign(g), exactly like a's first step.
  expect_near(b.to_vector(), {0.9, -2.1, 3.1}, 1e-8);
  EXPECT_EQ(opt.exp_avg()[1].raw_data(), m_storage);
}

TEST(Adam, BadArgumentsNameTheValue) {
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  EXPECT_NE(error_of([&] { Adam({p}, -1e-3); }).find("Adam: learning rate must be > 0, got -0.001"), std::string::npos);
  EXPECT_NE(error_of([&] { Adam({p}, 1e-3, 1.0); }).find("Adam: beta1 must be in [0, 1), got 1"), std::string::npos);
  EXPECT_NE(error_of([&] { Adam({p}, 1e-3, 0.9, -0.5); }).find("beta2 must be in [0, 1), got -0.5"), std::string::npos);
  EXPECT_NE(error_of([&] { Adam({p}, 1e-3, 0.9, 0.999, -1e-8); }).find("eps must be >= 0, got -1e-08"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Adam({p}, 1e-3, 0.9, 0.999, 1e-8, -2); }).find("weight_decay must be >= 0, got -2"),
            std::string::npos);
}

// The CUDA update equals the CPU update (same kernel math, float32).
TEST(Adam, CudaStepMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
  Generator gen(9);
  const Tensor init = Tensor::randn({1000}, gen), grad = Tensor::randn({1000}, gen);
  Tensor cpu_p = init.clone().set_requires_grad(), gpu_p = init.to(cuda_device()).set_requires_grad();
  Adam cpu_opt({cpu_p}, 1e-2, 0.9, 0.999, 1e-8, 1e-3), gpu_opt({gpu_p}, 1e-2, 0.9, 0.999, 1e-8, 1e-3);
  cpu_p.set_grad(grad.clone());
  gpu_p.set_grad(grad.to(cuda_device()));
  for (int t = 0; t < 3; ++t) {
    cpu_opt.step();
    gpu_opt.step();
  }
  const auto a = cpu_p.to_vector(), b = gpu_p.to_vector();
  for (std::size_t j = 0; j < a.size(); ++j) EXPECT_NEAR(b[j], a[j], 1e-6 * (1 + std::abs(a[j]))) << j;
}

}  // namespace
}  // namespace gn::nn
