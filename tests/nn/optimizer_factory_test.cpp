// make_optimizer: each name builds the optimizer the call sites build by hand, bit for bit.
#include "nn/optimizer_factory.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "error_of.h"
#include "nn/adam.h"
#include "nn/sgd.h"

namespace gn::nn {
namespace {

const std::vector<double> kP0 = {1, -2, 3};
const std::vector<double> kG = {0.5, 1, -1};

// Parameters after three steps of `opt` over a fresh copy of kP0 with the gradient kG.
template <class Make>
std::vector<double> three_steps(Make make) {
  Tensor p = Tensor::from_vector(kP0, {3}, DType::Float64).set_requires_grad();
  auto opt = make(std::vector<Tensor>{p});
  for (int s = 0; s < 3; ++s) {
    p.set_grad(Tensor::from_vector(kG, {3}, DType::Float64));
    opt->step();
  }
  return p.to_vector();
}

TEST(OptimizerFactory, Names) { EXPECT_EQ(optimizer_names(), (std::vector<std::string>{"adam", "sgd"})); }

TEST(OptimizerFactory, SgdDefaultsToMomentum09LikeTheToyApp) {
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  const auto opt = make_optimizer("sgd", {p}, {.lr = 0.1});
  const auto* sgd = dynamic_cast<const SGD*>(opt.get());
  ASSERT_NE(sgd, nullptr);
  EXPECT_EQ(sgd->lr(), 0.1);
  EXPECT_EQ(sgd->momentum(), 0.9);
  EXPECT_EQ(sgd->weight_decay(), 0.0);
  EXPECT_EQ(sgd->momentum_buffers().size(), 1u);
  // apps/toy/experiment.cpp: nn::SGD(params, lr, 0.9)
  EXPECT_EQ(three_steps([](std::vector<Tensor> ps) { return make_optimizer("sgd", ps, {.lr = 0.1}); }),
            three_steps([](std::vector<Tensor> ps) { return std::make_unique<SGD>(ps, 0.1, 0.9); }));
}

TEST(OptimizerFactory, SgdWithoutMomentumLikeGradNormWeights) {
  // multitask/gradnorm.cpp: nn::SGD(params, lr), momentum 0.
  const auto got =
      three_steps([](std::vector<Tensor> ps) { return make_optimizer("sgd", ps, {.lr = 0.1, .momentum = 0}); });
  EXPECT_EQ(got, three_steps([](std::vector<Tensor> ps) { return std::make_unique<SGD>(ps, 0.1); }));
  // Plain SGD: p - 3 * 0.1 * g, up to three roundings.
  EXPECT_NEAR(got[0], 0.85, 1e-15);
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  EXPECT_TRUE(dynamic_cast<SGD&>(*make_optimizer("sgd", {p}, {.momentum = 0})).momentum_buffers().empty());
}

TEST(OptimizerFactory, AdamUsesItsDefaultsOrTheOptions) {
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  const auto opt = make_optimizer("adam", {p}, {.lr = 0.025});
  const auto* adam = dynamic_cast<const Adam*>(opt.get());
  ASSERT_NE(adam, nullptr);
  EXPECT_EQ(adam->lr(), 0.025);
  EXPECT_EQ(adam->beta1(), 0.9);
  EXPECT_EQ(adam->beta2(), 0.999);
  EXPECT_EQ(adam->eps(), 1e-8);
  EXPECT_EQ(adam->weight_decay(), 0.0);
  EXPECT_EQ(three_steps([](std::vector<Tensor> ps) { return make_optimizer("adam", ps, {.lr = 0.025}); }),
            three_steps([](std::vector<Tensor> ps) { return std::make_unique<Adam>(ps, 0.025); }));
  const auto custom =
      make_optimizer("adam", {p}, {.lr = 0.1, .weight_decay = 0.01, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-6});
  const auto& a = dynamic_cast<const Adam&>(*custom);
  EXPECT_EQ(a.beta1(), 0.5);
  EXPECT_EQ(a.beta2(), 0.9);
  EXPECT_EQ(a.eps(), 1e-6);
  EXPECT_EQ(a.weight_decay(), 0.01);
}

TEST(OptimizerFactory, UnknownNameListsTheKnownOnes) {
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  EXPECT_EQ(error_of([&] { make_optimizer("rmsprop", {p}); }),
            "make_optimizer: unknown optimizer 'rmsprop'; known: adam, sgd");
  EXPECT_EQ(error_of([&] { make_optimizer("Adam", {p}); }),
            "make_optimizer: unknown optimizer 'Adam'; known: adam, sgd");
}

TEST(OptimizerFactory, OptionsAreCheckedByTheOptimizer) {
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  EXPECT_NE(error_of([&] { make_optimizer("sgd", {p}, {.lr = -1}); }).find("SGD: learning rate must be > 0, got -1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { make_optimizer("adam", {p}, {.beta1 = 1}); }).find("Adam: beta1 must be in [0, 1), got 1"),
            std::string::npos);
}

}  // namespace
}  // namespace gn::nn
