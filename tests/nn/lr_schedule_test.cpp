// StepLR: the learning rate sequence over training steps.
#include "nn/lr_schedule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "error_of.h"
#include "nn/sgd.h"

namespace gn::nn {
namespace {

TEST(StepLR, DecaysByGammaEveryStepSizeSteps) {
  Tensor p = Tensor::zeros({1}).set_requires_grad();
  SGD opt({p}, 0.5);
  StepLR sched(opt, 3);      // paper default gamma 0.2
  std::vector<double> used;  // the lr each training step runs with
  for (int step = 0; step < 8; ++step) {
    used.push_back(opt.lr());
    opt.step();  // no grad: a no-op, as in a loop where the schedule steps after the optimizer
    sched.step();
  }
  const std::vector<double> expected = {0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.02, 0.02};
  ASSERT_EQ(used.size(), expected.size());
  for (std::size_t t = 0; t < used.size(); ++t) EXPECT_NEAR(used[t], expected[t], 1e-15) << "step " << t;
  EXPECT_EQ(sched.last_step(), 8);
  EXPECT_NEAR(sched.lr(), 0.02, 1e-15);  // t = 8: floor(8 / 3) = 2 decays
  EXPECT_EQ(sched.base_lr(), 0.5);
}

TEST(StepLR, RecomputesFromBaseSoLongRunsDoNotDrift) {
  Tensor p = Tensor::zeros({1}).set_requires_grad();
  SGD opt({p}, 1.0);
  StepLR sched(opt, 1, 0.5);
  for (int t = 0; t < 40; ++t) sched.step();
  EXPECT_EQ(opt.lr(), std::ldexp(1.0, -40));  // exactly 0.5^40
}

TEST(StepLR, BadArgumentsNameTheValue) {
  Tensor p = Tensor::zeros({1}).set_requires_grad();
  SGD opt({p}, 0.1);
  EXPECT_NE(error_of([&] { StepLR(opt, 0); }).find("StepLR: step_size must be > 0, got 0"), std::string::npos);
  EXPECT_NE(error_of([&] { StepLR(opt, -5); }).find("got -5"), std::string::npos);
  EXPECT_NE(error_of([&] { StepLR(opt, 10, -0.2); }).find("StepLR: gamma must be > 0, got -0.2"), std::string::npos);
}

}  // namespace
}  // namespace gn::nn
