// Linear: forward against a naive loop, gradients against central finite differences (float64), default
// initialisation bounds, argument errors.
#include "nn/linear.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "error_of.h"

namespace gn::nn {
namespace {

// y[b][o] = sum_k x[b][k] w[o][k] + bias[o], summed in double.
void check_against_naive_loop(bool with_bias) {
  Generator gen(10);
  const std::int64_t B = 4, in = 5, out = 3;
  Linear lin(in, out, gen, with_bias);
  EXPECT_EQ(lin.bias.defined(), with_bias);
  const Tensor x = Tensor::randn({B, in}, gen);
  const auto y = lin(x).to_vector();
  const auto xv = x.to_vector(), wv = lin.weight.to_vector();
  const auto bv = with_bias ? lin.bias.to_vector() : std::vector<double>(out, 0.0);
  ASSERT_EQ(y.size(), static_cast<std::size_t>(B * out));
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t o = 0; o < out; ++o) {
      double ref = bv[o], magnitude = std::abs(bv[o]);
      for (std::int64_t k = 0; k < in; ++k) {
        ref += xv[b * in + k] * wv[o * in + k];
        magnitude += std::abs(xv[b * in + k] * wv[o * in + k]);
      }
      // A float32 sum of in + 1 terms errs by at most about (in + 1) * FLT_EPSILON * sum |terms|; doubled for
      // the GEMM's own summation order.
      const double tol = 2.0 * (in + 1) * FLT_EPSILON * magnitude;
      EXPECT_NEAR(y[b * out + o], ref, tol) << "b=" << b << " o=" << o;
    }
  }
}

TEST(Linear, ForwardMatchesNaiveLoop) { check_against_naive_loop(true); }
TEST(Linear, ForwardWithoutBiasMatchesNaiveLoop) { check_against_naive_loop(false); }

TEST(Linear, GradientsMatchCentralFiniteDifferencesInFloat64) {
  Generator gen(11);
  Linear lin(3, 2, gen, true, DType::Float64);
  Tensor x = Tensor::randn({4, 3}, gen, 0, 1, DType::Float64).set_requires_grad();
  const Tensor c = Tensor::randn({4, 2}, gen, 0, 1, DType::Float64);
  // A nonlinear scalar of the output so that the check sees second-order terms, not just a linear map.
  auto loss = [&] { return sum(gn::tanh(lin(x)) * c); };
  backward(loss());

  // Central differences err by h^2/6 * f''' (~1e-12 here) plus rounding eps * |f| / h (~1e-9 for |f| ~ 1);
  // 1e-7 leaves two orders of magnitude of margin.
  const double h = 1e-6, tol = 1e-7;
  for (Tensor* t : {&lin.weight, &lin.bias, &x}) {
    const auto analytic = t->grad().to_vector();
    double* data = t->data<double>();
    for (std::int64_t i = 0; i < t->numel(); ++i) {
      const double saved = data[i];
      NoGradGuard no_grad;
      data[i] = saved + h;
      const double up = loss().item();
      data[i] = saved - h;
      const double down = loss().item();
      data[i] = saved;
      EXPECT_NEAR(analytic[i], (up - down) / (2 * h), tol) << "element " << i << " of shape " << to_string(t->shape());
    }
  }
}

TEST(Linear, DefaultInitIsPyTorchsUniformOneOverSqrtFanIn) {
  Generator gen(12);
  Linear lin(64, 32, gen);
  const double bound = 1.0 / std::sqrt(64.0);  // = 0.125
  for (const Tensor* t : {&lin.weight, &lin.bias}) {
    double max_abs = 0;
    for (double v : t->to_vector()) {
      EXPECT_LE(std::abs(v), bound * (1 + FLT_EPSILON));  // float32 rounding may land half an ulp past it
      max_abs = std::max(max_abs, std::abs(v));
    }
    // The draws fill the interval: with 32 or more uniform samples, P(max |v| < 0.8 bound) <= 0.8^32 ~ 8e-4,
    // and the seed is fixed, so this pins the bound from below as well.
    EXPECT_GT(max_abs, 0.8 * bound);
  }
  EXPECT_EQ(lin.weight.shape(), (Shape{32, 64}));
  EXPECT_EQ(lin.bias.shape(), (Shape{32}));
  // Same seed, same layer.
  Generator again(12);
  Linear twin(64, 32, again);
  EXPECT_EQ(twin.weight.to_vector(), lin.weight.to_vector());
  EXPECT_EQ(twin.bias.to_vector(), lin.bias.to_vector());
}

TEST(Linear, BadArgumentsNameTheValue) {
  Generator gen(13);
  EXPECT_NE(error_of([&] { Linear(0, 3, gen); }).find("Linear(0, 3)"), std::string::npos);
  EXPECT_NE(error_of([&] { Linear(4, -2, gen); }).find("Linear(4, -2)"), std::string::npos);
  EXPECT_NE(error_of([&] { Linear(4, 2, gen, true, DType::Int64); }).find("int64"), std::string::npos);
  Linear lin(4, 2, gen);
  const std::string wrong_width = error_of([&] { lin(Tensor::zeros({8, 5})); });
  EXPECT_NE(wrong_width.find("Linear(4, 2)"), std::string::npos) << wrong_width;
  EXPECT_NE(wrong_width.find("(8, 5)"), std::string::npos) << wrong_width;
  EXPECT_NE(error_of([&] { lin(Tensor::zeros({4})); }).find("(4,)"), std::string::npos);
}

}  // namespace
}  // namespace gn::nn
