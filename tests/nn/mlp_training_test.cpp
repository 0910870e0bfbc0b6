// End to end: a tiny MLP, Sequential(Linear(4, 32), Tanh, Linear(32, 1)), fits a fixed smooth function of
// seeded inputs, full batch, with Adam and with SGD + momentum.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "nn/sgd.h"

namespace gn::nn {
namespace {

constexpr std::int64_t kSamples = 128, kIn = 4, kHidden = 32;

struct Problem {
  Tensor x;  // (128, 4), U(-1, 1)
  Tensor y;  // (128, 1) = sin(2 x0) + 0.5 x1 x2 - 0.3 x3^2
};

Problem make_problem() {
  Generator gen(2024);
  const Tensor x = Tensor::uniform({kSamples, kIn}, gen, -1, 1);
  const auto xv = x.to_vector();
  std::vector<double> y(kSamples);
  for (std::int64_t n = 0; n < kSamples; ++n) {
    const double* r = &xv[n * kIn];
    y[n] = std::sin(2 * r[0]) + 0.5 * r[1] * r[2] - 0.3 * r[3] * r[3];
  }
  return {x, Tensor::from_vector(y, {kSamples, 1})};
}

std::shared_ptr<Sequential> make_mlp() {
  Generator gen(7);
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Linear>(kIn, kHidden, gen), std::make_shared<Tanh>(),
      std::make_shared<Linear>(kHidden, 1, gen)});
}

struct Losses {
  double initial_loss;
  double final_loss;
};

Losses train(Module& model, Optimizer& opt, const Problem& data, int steps) {
  Losses run{mse_loss(model(data.x), data.y).item(), 0};
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    const Tensor loss = mse_loss(model(data.x), data.y);
    backward(loss);
    opt.step();
  }
  run.final_loss = mse_loss(model(data.x), data.y).item();
  return run;
}

// Reference points: the target's variance over these inputs is 0.64, so predicting its mean scores 0.64,
// and the untrained network starts at 0.86. Measured with these seeds (full batch): Adam at lr 1e-2 reaches
// 6e-3 after 400 steps and 6e-4 after 800; SGD at lr 5e-2, momentum 0.9 reaches 4e-3 after 600 steps and
// 8.5e-4 after 1000. The threshold 5e-3 is about 7x above both final losses (room for summation-order and
// compiler differences) and still 1/128 of the mean predictor's loss, which no model that has not learned
// the function's shape can reach.
constexpr double kFitThreshold = 5e-3;

TEST(MlpTraining, AdamFitsTheRegressionProblem) {
  const Problem data = make_problem();
  auto mlp = make_mlp();
  Adam opt(mlp->parameters(), 1e-2);
  const Losses run = train(*mlp, opt, data, 800);
  EXPECT_GT(run.initial_loss, 0.5);
  EXPECT_LT(run.final_loss, kFitThreshold) << "initial loss " << run.initial_loss;
}

TEST(MlpTraining, SgdWithMomentumFitsTheRegressionProblem) {
  const Problem data = make_problem();
  auto mlp = make_mlp();
  SGD opt(mlp->parameters(), 5e-2, 0.9);
  const Losses run = train(*mlp, opt, data, 1000);
  EXPECT_GT(run.initial_loss, 0.5);
  EXPECT_LT(run.final_loss, kFitThreshold) << "initial loss " << run.initial_loss;
}

TEST(MlpTraining, SameSeedsSameLossBitForBit) {
  const Problem data = make_problem();
  auto a = make_mlp(), b = make_mlp();
  Adam opt_a(a->parameters(), 1e-2), opt_b(b->parameters(), 1e-2);
  EXPECT_EQ(train(*a, opt_a, data, 50).final_loss, train(*b, opt_b, data, 50).final_loss);
}

}  // namespace
}  // namespace gn::nn
