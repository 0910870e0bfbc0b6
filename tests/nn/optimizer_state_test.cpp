// Optimizer and schedule checkpoints: k steps, save, restore into freshly built objects, one more step must
// equal the uninterrupted run bit for bit; the saved entries hold the expected numbers.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/adam.h"
#include "nn/lr_schedule.h"
#include "nn/sgd.h"
#include "state_test_support.h"

namespace gn::nn {
namespace {

using testing::expect_same_state;
using testing::names_of;
using testing::Nested;
using testing::same_state;
using testing::train_step;

using MakeOpt = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

struct Training {
  std::shared_ptr<Nested> model;
  std::unique_ptr<Optimizer> opt;
};

Training build(std::uint64_t seed, const MakeOpt& make) {
  Generator g(seed);
  auto model = std::make_shared<Nested>(g);
  auto opt = make(model->parameters());
  return {model, std::move(opt)};
}

// Model and optimizer state after k + 1 steps, uninterrupted and resumed.
struct Outcome {
  StateDict uninterrupted, resumed;
};

// Uninterrupted: k + 1 steps. Resumed: a fresh model and optimizer (other seed) load the checkpoint taken
// after k steps, then take step k + 1. With `load_optimizer` false the optimizer state is not restored.
Outcome resume(const MakeOpt& make, int k, bool load_optimizer = true) {
  Generator gx(42);
  const Tensor x = Tensor::randn({6, 3}, gx);
  Training a = build(1, make);
  for (int s = 0; s < k; ++s) train_step(*a.model, *a.opt, x);
  const StateDict model_ckpt = a.model->state_dict(), opt_ckpt = a.opt->state_dict();
  train_step(*a.model, *a.opt, x);

  Training b = build(2, make);
  b.model->load_state_dict(model_ckpt);
  if (load_optimizer) b.opt->load_state_dict(opt_ckpt);
  train_step(*b.model, *b.opt, x);
  auto both = [](const Training& t) {
    StateDict s = with_prefix(t.model->state_dict(), "model.");
    for (auto& e : with_prefix(t.opt->state_dict(), "optimizer.")) s.push_back(std::move(e));
    return s;
  };
  return {both(a), both(b)};
}

void expect_resume_is_bitwise(const MakeOpt& make, int k) {
  const Outcome o = resume(make, k);
  expect_same_state(o.resumed, o.uninterrupted);
}

const MakeOpt kSgdMomentum = [](std::vector<Tensor> p) { return std::make_unique<SGD>(std::move(p), 0.05, 0.9, 1e-3); };
const MakeOpt kAdam = [](std::vector<Tensor> p) { return std::make_unique<Adam>(std::move(p), 0.01); };

TEST(OptimizerState, SgdWithMomentumResumesBitwise) { expect_resume_is_bitwise(kSgdMomentum, 3); }

TEST(OptimizerState, SgdResumesBeforeItsFirstStep) { expect_resume_is_bitwise(kSgdMomentum, 0); }

TEST(OptimizerState, PlainSgdResumesBitwise) {
  expect_resume_is_bitwise([](std::vector<Tensor> p) { return std::make_unique<SGD>(std::move(p), 0.05); }, 2);
}

TEST(OptimizerState, AdamResumesBitwise) { expect_resume_is_bitwise(kAdam, 3); }

// The checks above can fail: without the optimizer state the resumed step differs.
TEST(OptimizerState, WithoutOptimizerStateTheResumedStepDiffers) {
  for (const MakeOpt& make : {kSgdMomentum, kAdam}) {
    const Outcome o = resume(make, 3, /*load_optimizer=*/false);
    EXPECT_FALSE(same_state(strip_prefix(o.resumed, "model."), strip_prefix(o.uninterrupted, "model.")));
  }
}

TEST(OptimizerState, AdamEntriesHoldStepCountsAndMomentClones) {
  Tensor p = Tensor::from_vector(std::vector<double>{1, 2}, {2}).set_requires_grad();
  Tensor q = Tensor::zeros({1, 3}, DType::Float64).set_requires_grad();
  Adam opt({p, q}, 0.01);
  for (int s = 0; s < 3; ++s) {
    p.set_grad(Tensor::from_vector(std::vector<double>{0.5, -1}, {2}));
    if (s == 2) q.set_grad(Tensor::ones({1, 3}, DType::Float64));  // q is stepped once only
    opt.step();
  }
  const StateDict s = opt.state_dict();
  EXPECT_EQ(names_of(s), (std::vector<std::string>{"lr", "0.exp_avg", "0.exp_avg_sq", "0.step", "1.exp_avg",
                                                   "1.exp_avg_sq", "1.step"}));
  EXPECT_EQ(s[0].second.dtype(), DType::Float64);
  EXPECT_EQ(s[0].second.shape(), Shape{});
  EXPECT_EQ(s[0].second.item(), 0.01);
  EXPECT_EQ(s[3].second.dtype(), DType::Int64);
  EXPECT_EQ(s[3].second.item(), 3.0);
  EXPECT_EQ(s[6].second.item(), 1.0);
  EXPECT_EQ(s[1].second.to_vector(), opt.exp_avg()[0].to_vector());
  EXPECT_NE(s[1].second.raw_data(), opt.exp_avg()[0].raw_data());
  EXPECT_EQ(s[5].second.shape(), (Shape{1, 3}));
  EXPECT_EQ(s[5].second.dtype(), DType::Float64);

  Adam fresh({p.detach().clone().set_requires_grad(), q.detach().clone().set_requires_grad()}, 0.5);
  fresh.load_state_dict(s);
  EXPECT_EQ(fresh.steps(), (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(fresh.lr(), 0.01);
  EXPECT_EQ(fresh.exp_avg_sq()[1].to_vector(), opt.exp_avg_sq()[1].to_vector());
}

TEST(OptimizerState, SgdEntriesHoldBuffersAndStartedFlags) {
  Tensor p = Tensor::zeros({2}).set_requires_grad(), q = Tensor::zeros({3}).set_requires_grad();
  SGD opt({p, q}, 0.1, 0.9);
  p.set_grad(Tensor::ones({2}));
  opt.step();  // starts p only
  const StateDict s = opt.state_dict();
  EXPECT_EQ(names_of(s),
            (std::vector<std::string>{"lr", "0.momentum_buffer", "0.started", "1.momentum_buffer", "1.started"}));
  EXPECT_EQ(s[1].second.to_vector(), (std::vector<double>{1, 1}));
  EXPECT_EQ(s[2].second.item(), 1.0);
  EXPECT_EQ(s[4].second.item(), 0.0);
  SGD plain({p}, 0.1);
  EXPECT_EQ(names_of(plain.state_dict()), (std::vector<std::string>{"lr", "0.started"}));
}

TEST(OptimizerState, LoadKeepsBuffersInPlace) {
  Tensor p = Tensor::zeros({2}).set_requires_grad();
  SGD a({p}, 0.1, 0.9), b({p}, 0.1, 0.9);
  p.set_grad(Tensor::ones({2}));
  a.step();
  const void* buf = b.momentum_buffers()[0].raw_data();
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.momentum_buffers()[0].raw_data(), buf);
  EXPECT_EQ(b.momentum_buffers()[0].to_vector(), (std::vector<double>{1, 1}));
}

TEST(OptimizerState, LrIsRestored) {
  Tensor p = Tensor::zeros({1}).set_requires_grad();
  SGD a({p}, 0.1), b({p}, 0.7);
  a.set_lr(0.025);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.lr(), 0.025);
}

TEST(StepLRState, ResumedScheduleGivesTheSameLearningRates) {
  Tensor p = Tensor::zeros({1}).set_requires_grad(), q = Tensor::zeros({1}).set_requires_grad();
  SGD opt_a({p}, 0.5);
  StepLR a(opt_a, 3, 0.5);
  for (int t = 0; t < 4; ++t) a.step();
  const StateDict s = a.state_dict();
  EXPECT_EQ(names_of(s), (std::vector<std::string>{"t", "base_lr"}));
  EXPECT_EQ(s[0].second.dtype(), DType::Int64);
  EXPECT_EQ(s[0].second.item(), 4.0);
  EXPECT_EQ(s[1].second.item(), 0.5);

  SGD opt_b({q}, 0.9);
  StepLR b(opt_b, 3, 0.5);
  b.load_state_dict(s);
  opt_b.load_state_dict(opt_a.state_dict());
  EXPECT_EQ(b.last_step(), 4);
  EXPECT_EQ(b.base_lr(), 0.5);
  EXPECT_EQ(opt_b.lr(), 0.25);
  for (int t = 0; t < 5; ++t) {
    a.step();
    b.step();
    EXPECT_EQ(opt_b.lr(), opt_a.lr()) << "step " << t;
  }
  EXPECT_EQ(opt_b.lr(), 0.0625);  // t = 9: three decays
}

// The intended checkpoint layout: model, optimizer and schedule in one StateDict under prefixes.
TEST(OptimizerState, OneCheckpointHoldsModelOptimizerAndSchedule) {
  Generator gx(3);
  const Tensor x = Tensor::randn({6, 3}, gx);
  Training a = build(1, kAdam), b = build(2, kAdam);
  StepLR sched_a(*a.opt, 2), sched_b(*b.opt, 2);
  auto step = [&](Training& r, StepLR& s) {
    train_step(*r.model, *r.opt, x);
    s.step();
  };
  for (int t = 0; t < 3; ++t) step(a, sched_a);
  StateDict ckpt = with_prefix(a.model->state_dict(), "model.");
  for (auto& e : with_prefix(a.opt->state_dict(), "optimizer.")) ckpt.push_back(std::move(e));
  for (auto& e : with_prefix(sched_a.state_dict(), "schedule.")) ckpt.push_back(std::move(e));
  b.model->load_state_dict(strip_prefix(ckpt, "model."));
  b.opt->load_state_dict(strip_prefix(ckpt, "optimizer."));
  sched_b.load_state_dict(strip_prefix(ckpt, "schedule."));
  for (int t = 0; t < 2; ++t) {  // across a decay (t = 4)
    step(a, sched_a);
    step(b, sched_b);
  }
  expect_same_state(b.model->state_dict(), a.model->state_dict());
  expect_same_state(b.opt->state_dict(), a.opt->state_dict());
  EXPECT_DOUBLE_EQ(b.opt->lr(), 0.01 * 0.2 * 0.2);
}

}  // namespace
}  // namespace gn::nn
