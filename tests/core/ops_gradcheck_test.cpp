// One finite-difference gradient check per op (float64), named by the op so `ctest -N` lists them.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::Shape;
using gn::Tensor;
using gn_test::away_from_zero;
using gn_test::gradcheck;
using gn_test::uniform;
using V = std::vector<Tensor>;

// ---- the checker itself must be able to fail ----

TEST(GradCheckHelper, DetectsWrongGradient) {
  gn::Generator gen(1);
  // x * 3 whose backward wrongly claims 2 g.
  auto wrong = [](const V& x) {
    Tensor out;
    {
      gn::NoGradGuard no_grad;
      out = gn::mul(x[0], 3.0);
    }
    return gn::record(out, "wrong", {x[0]}, [](const Tensor& g) { return V{gn::mul(g, 2.0)}; });
  };
  EXPECT_FALSE(gradcheck(wrong, {uniform({3, 2}, gen)}));
  // A gradient that is right except for one element is caught too.
  auto one_off = [](const V& x) {
    Tensor out;
    {
      gn::NoGradGuard no_grad;
      out = gn::mul(x[0], 3.0);
    }
    return gn::record(out, "one_off", {x[0]}, [](const Tensor& g) {
      Tensor gx = gn::mul(g, 3.0);
      gx.data<double>()[4] += 1e-3;
      return V{gx};
    });
  };
  EXPECT_FALSE(gradcheck(one_off, {uniform({3, 2}, gen)}));
  EXPECT_FALSE(gradcheck([](const V& x) { return gn::mul(x[0], 3.0); }, {Tensor::zeros({2}, gn::DType::Float64)}))
      << "all-zero inputs must be refused";
}

TEST(GradCheckHelper, AcceptsFloat32WithLooserTolerance) {
  gn::Generator gen(2);
  EXPECT_TRUE(
      gradcheck([](const V& x) { return gn::tanh(gn::mul(x[0], x[1])); },
                {uniform({3, 4}, gen, -1, 1, gn::DType::Float32), uniform({4}, gen, -1, 1, gn::DType::Float32)}));
}

// ---- binary ----

TEST(GradCheck, add) {
  gn::Generator gen(10);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::add(x[0], x[1]); }, {uniform({3, 4}, gen), uniform({3, 4}, gen)}));
}

TEST(GradCheck, add_broadcast_bias_row) {
  gn::Generator gen(11);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::add(x[0], x[1]); }, {uniform({5, 3}, gen), uniform({3}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::add(x[1], x[0]); }, {uniform({5, 3}, gen), uniform({1, 3}, gen)}));
}

TEST(GradCheck, add_scalar) {
  gn::Generator gen(12);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::add(x[0], 2.5); }, {uniform({2, 3}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return x[0] - 0.5; }, {uniform({4}, gen)}));
  // A 0-d tensor operand broadcast against a matrix, on either side.
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::add(x[0], x[1]); }, {uniform({2, 3}, gen), uniform({}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::add(x[1], x[0]); }, {uniform({2, 3}, gen), uniform({}, gen)}));
}

TEST(GradCheck, sub) {
  gn::Generator gen(13);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::sub(x[0], x[1]); }, {uniform({3, 4}, gen), uniform({3, 4}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::sub(x[0], x[1]); }, {uniform({4}, gen), uniform({2, 4}, gen)}));
}

TEST(GradCheck, mul) {
  gn::Generator gen(14);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::mul(x[0], x[1]); }, {uniform({3, 4}, gen), uniform({3, 4}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::mul(x[0], -1.5); }, {uniform({3, 4}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::mul(x[0], x[0]); }, {uniform({5}, gen)}));
}

TEST(GradCheck, mul_broadcast) {
  gn::Generator gen(15);
  auto f = [](const V& x) { return gn::mul(x[0], x[1]); };
  EXPECT_TRUE(gradcheck(f, {uniform({3, 1, 4}, gen), uniform({2, 4}, gen)}));  // -> (3, 2, 4)
  EXPECT_TRUE(gradcheck(f, {uniform({2, 4}, gen), uniform({3, 1, 4}, gen)}));
  EXPECT_TRUE(gradcheck(f, {uniform({4, 1}, gen), uniform({1, 5}, gen)}));  // outer product
  EXPECT_TRUE(gradcheck(f, {uniform({2, 1, 3}, gen), uniform({1, 4, 1}, gen)}));
}

TEST(GradCheck, div) {
  gn::Generator gen(16);
  auto f = [](const V& x) { return gn::div(x[0], x[1]); };
  EXPECT_TRUE(gradcheck(f, {uniform({3, 4}, gen), away_from_zero({3, 4}, gen, 0.5, 2)}));
  EXPECT_TRUE(gradcheck(f, {uniform({2, 3, 4}, gen), away_from_zero({3, 1}, gen, 0.5, 2)}));
}

// ---- unary ----

TEST(GradCheck, neg) {
  gn::Generator gen(20);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::neg(x[0]); }, {uniform({3, 4}, gen)}));
}

TEST(GradCheck, exp) {
  gn::Generator gen(21);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::exp(x[0]); }, {uniform({3, 4}, gen, -2, 2)}));
}

TEST(GradCheck, log) {
  gn::Generator gen(22);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::log(x[0]); }, {uniform({3, 4}, gen, 0.3, 3)}));
}

TEST(GradCheck, sqrt) {
  gn::Generator gen(23);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::sqrt(x[0]); }, {uniform({3, 4}, gen, 0.3, 3)}));
}

TEST(GradCheck, abs) {
  gn::Generator gen(24);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::abs(x[0]); }, {away_from_zero({3, 4}, gen)}));
}

TEST(GradCheck, pow) {
  gn::Generator gen(25);
  for (double p : {2.0, 3.0, 0.5, -1.5, 1.7}) {
    SCOPED_TRACE(p);
    EXPECT_TRUE(gradcheck([p](const V& x) { return gn::pow(x[0], p); }, {uniform({3, 4}, gen, 0.3, 2)}));
  }
}

TEST(GradCheck, relu) {
  gn::Generator gen(26);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::relu(x[0]); }, {away_from_zero({4, 5}, gen)}));
}

TEST(GradCheck, tanh) {
  gn::Generator gen(27);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::tanh(x[0]); }, {uniform({3, 4}, gen, -2, 2)}));
}

TEST(GradCheck, sigmoid) {
  gn::Generator gen(28);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::sigmoid(x[0]); }, {uniform({3, 4}, gen, -3, 3)}));
}

// ---- reductions ----

TEST(GradCheck, sum_all) {
  gn::Generator gen(30);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::sum(x[0]); }, {uniform({2, 3, 4}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::sum(x[0]); }, {uniform({7}, gen)}));
}

TEST(GradCheck, sum_axis) {
  gn::Generator gen(31);
  const Tensor x = uniform({2, 3, 4}, gen);
  for (std::int64_t axis : {0, 1, 2, -1, -3})
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "axis " << axis << " keepdim " << keepdim);
      EXPECT_TRUE(gradcheck([=](const V& v) { return gn::sum(v[0], axis, keepdim); }, {x}));
    }
}

TEST(GradCheck, mean_all) {
  gn::Generator gen(32);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::mean(x[0]); }, {uniform({2, 3, 4}, gen)}));
}

TEST(GradCheck, mean_axis) {
  gn::Generator gen(33);
  const Tensor x = uniform({2, 3, 4}, gen);
  for (std::int64_t axis : {0, 1, -1})
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "axis " << axis << " keepdim " << keepdim);
      EXPECT_TRUE(gradcheck([=](const V& v) { return gn::mean(v[0], axis, keepdim); }, {x}));
    }
}

// ---- shape ----

TEST(GradCheck, reshape) {
  gn::Generator gen(40);
  // Followed by a broadcasting mul so a reshape that scrambled the gradient's order would show.
  EXPECT_TRUE(gradcheck(
      [](const V& x) {
        return gn::mul(gn::reshape(x[0], {4, -1}), x[1]);
      },
      {uniform({2, 6}, gen), uniform({3}, gen)}));
}

TEST(GradCheck, slice) {
  gn::Generator gen(41);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::slice(x[0], 1, 3); }, {uniform({4, 3}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::slice(gn::slice(x[0], 1, 4), 1, 2); }, {uniform({5, 2, 2}, gen)}));
  // Two overlapping slices of the same tensor: their gradients add.
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::add(gn::slice(x[0], 0, 2), gn::slice(x[0], 1, 3)); },
                        {uniform({3, 2}, gen)}));
}

TEST(GradCheck, transpose) {
  gn::Generator gen(42);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::transpose(x[0], 0, 2); }, {uniform({2, 3, 4}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::transpose(x[0], -1, 1); }, {uniform({2, 3, 4}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::transpose(x[0], 0, 1); }, {uniform({3, 5}, gen)}));
}

TEST(GradCheck, concat) {
  gn::Generator gen(43);
  auto f0 = [](const V& x) { return gn::concat(x, 0); };
  auto f1 = [](const V& x) { return gn::concat(x, 1); };
  EXPECT_TRUE(gradcheck(f0, {uniform({2, 3}, gen), uniform({1, 3}, gen), uniform({3, 3}, gen)}));
  EXPECT_TRUE(gradcheck(f1, {uniform({2, 3, 2}, gen), uniform({2, 1, 2}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::concat(x, -1); }, {uniform({2, 3}, gen), uniform({2, 2}, gen)}));
}

TEST(GradCheck, split) {
  gn::Generator gen(44);
  // Each piece weighted differently so that mixing up pieces changes the gradient.
  auto f = [](std::int64_t axis, std::vector<std::int64_t> sizes) {
    return [=](const V& x) {
      const auto parts = gn::split(x[0], sizes, axis);
      Tensor acc = gn::mul(gn::sum(parts[0]), 1.0);
      for (std::size_t i = 1; i < parts.size(); ++i)
        acc = gn::add(acc, gn::sum(gn::mul(gn::pow(parts[i], 2.0), static_cast<double>(i + 1))));
      return acc;
    };
  };
  EXPECT_TRUE(gradcheck(f(0, {1, 3, 2}), {uniform({6, 2}, gen)}));
  EXPECT_TRUE(gradcheck(f(1, {2, 1, 2}), {uniform({3, 5, 2}, gen)}));
  // A non-scalar piece directly (the others unused: their gradient contribution is zero).
  EXPECT_TRUE(gradcheck(
      [](const V& x) {
        return gn::split(x[0], std::vector<std::int64_t>{1, 2}, 1)[1];
      },
      {uniform({2, 3}, gen)}));
}

// ---- linear algebra ----

TEST(GradCheck, matmul) {
  gn::Generator gen(50);
  auto f = [](const V& x) { return gn::matmul(x[0], x[1]); };
  EXPECT_TRUE(gradcheck(f, {uniform({3, 4}, gen), uniform({4, 5}, gen)}));
  EXPECT_TRUE(gradcheck(f, {uniform({1, 3}, gen), uniform({3, 1}, gen)}));
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::matmul(x[0], x[0]); }, {uniform({3, 3}, gen)}));
}

TEST(GradCheck, linear) {
  gn::Generator gen(51);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::linear(x[0], x[1], x[2]); },
                        {uniform({4, 3}, gen), uniform({5, 3}, gen), uniform({5}, gen)}));
}

TEST(GradCheck, linear_no_bias) {
  gn::Generator gen(52);
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::linear(x[0], x[1], Tensor()); },
                        {uniform({4, 3}, gen), uniform({2, 3}, gen)}));
}

// ---- losses ----

TEST(GradCheck, mse_loss) {
  gn::Generator gen(60);
  // Gradients to both the prediction and the target.
  EXPECT_TRUE(
      gradcheck([](const V& x) { return gn::mse_loss(x[0], x[1]); }, {uniform({3, 4}, gen), uniform({3, 4}, gen)}));
  // Composed with other ops so the incoming gradient is not 1.
  EXPECT_TRUE(gradcheck([](const V& x) { return gn::mul(gn::mse_loss(gn::tanh(x[0]), x[1]), 3.0); },
                        {uniform({5}, gen), uniform({5}, gen)}));
}

TEST(GradCheck, cross_entropy) {
  gn::Generator gen(61);
  const std::vector<std::int64_t> lv = {0, 3, -100, 2, 1, -100};
  const Tensor labels = Tensor::from_labels(lv, {6});
  EXPECT_TRUE(gradcheck([&](const V& x) { return gn::cross_entropy(x[0], labels); }, {uniform({6, 4}, gen, -2, 2)}));
  // A custom ignore_index, and the loss scaled so the incoming gradient is not 1.
  const std::vector<std::int64_t> lv2 = {1, 7, 0, 2};
  const Tensor labels2 = Tensor::from_labels(lv2, {4});
  EXPECT_TRUE(gradcheck([&](const V& x) { return gn::mul(gn::cross_entropy(x[0], labels2, 7), 2.5); },
                        {uniform({4, 3}, gen, -2, 2)}));
}

TEST(GradCheck, cross_entropy_4d) {
  gn::Generator gen(62);
  // logits (N, C, H, W) = (2, 3, 2, 3), labels (N, H, W) with some positions ignored.
  const std::vector<std::int64_t> lv = {0, 2, -100, 1, 1, 0, 2, -100, -100, 0, 1, 2};
  const Tensor labels = Tensor::from_labels(lv, {2, 2, 3});
  EXPECT_TRUE(
      gradcheck([&](const V& x) { return gn::cross_entropy(x[0], labels); }, {uniform({2, 3, 2, 3}, gen, -2, 2)}));
}

}  // namespace
