// Optimizer and StepLR load_state_dict refusals: each names the entry and changes nothing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "error_of.h"
#include "nn/adam.h"
#include "nn/lr_schedule.h"
#include "nn/sgd.h"
#include "state_test_support.h"

namespace gn::nn {
namespace {

using testing::expect_same_state;

// Two parameters and an optimizer that has taken two steps, so its state is not the initial one.
struct Stepped {
  Tensor p = Tensor::from_vector(std::vector<double>{1, 2}, {2}).set_requires_grad();
  Tensor q = Tensor::from_vector(std::vector<double>{3, 4, 5}, {3}).set_requires_grad();
  template <class Opt>
  void run(Opt& opt) {
    for (int s = 0; s < 2; ++s) {
      p.set_grad(Tensor::full({2}, 0.5));
      q.set_grad(Tensor::full({3}, -1.0));
      opt.step();
    }
  }
};

void set(StateDict& s, const std::string& name, Tensor t) {
  for (auto& [n, v] : s) {
    if (n == name) v = std::move(t);
  }
}

// The error of loading `bad` into `opt`, whose state must be unchanged afterwards.
std::string load_error(Optimizer& opt, const StateDict& bad) {
  const StateDict before = opt.state_dict();
  const std::string e = error_of([&] { opt.load_state_dict(bad); });
  expect_same_state(opt.state_dict(), before);
  return e;
}

TEST(OptimizerLoadErrors, AdamEntriesAreCheckedBeforeAnythingChanges) {
  Stepped a, b;
  Adam src({a.p, a.q}, 0.01), dst({b.p, b.q}, 0.02);
  a.run(src);
  b.run(dst);
  b.run(dst);  // dst has other numbers everywhere (step 4, other moments, other lr)
  const StateDict good = src.state_dict();

  StateDict bad = good;
  set(bad, "1.exp_avg_sq", Tensor::zeros({2}));
  EXPECT_NE(load_error(dst, bad).find("Adam: load_state_dict: nothing loaded: entry '1.exp_avg_sq' has shape (2,), "
                                      "expected (3,)"),
            std::string::npos);
  bad = good;
  set(bad, "1.step", Tensor::scalar(2, DType::Float64));
  EXPECT_NE(load_error(dst, bad).find("entry '1.step' has dtype float64, expected int64"), std::string::npos);
  bad = good;
  bad.pop_back();
  EXPECT_NE(load_error(dst, bad).find("missing entry '1.step' (int64 ())"), std::string::npos);
  bad = good;
  bad.emplace_back("2.exp_avg", Tensor::zeros({1}));
  EXPECT_NE(load_error(dst, bad).find("unexpected entry '2.exp_avg'"), std::string::npos);
  bad = good;
  set(bad, "1.step", state_count(-1));
  EXPECT_EQ(load_error(dst, bad), "Adam: load_state_dict: nothing loaded: entry '1.step' is -1, must be >= 0");
  bad = good;
  set(bad, "lr", state_scalar(-0.5));
  EXPECT_EQ(load_error(dst, bad), "Adam: load_state_dict: nothing loaded: entry 'lr' is -0.5, must be >= 0");
  EXPECT_EQ(dst.steps(), (std::vector<std::int64_t>{4, 4}));
  EXPECT_EQ(dst.lr(), 0.02);
}

TEST(OptimizerLoadErrors, SgdRefusesAnotherKindOrMomentumSetting) {
  Stepped a, b;
  SGD momentum({a.p, a.q}, 0.1, 0.9), plain({b.p, b.q}, 0.1);
  a.run(momentum);
  EXPECT_NE(load_error(plain, momentum.state_dict()).find("unexpected entry '0.momentum_buffer' (float32 (2,))"),
            std::string::npos);
  Adam adam({a.p, a.q});
  const std::string e = load_error(momentum, adam.state_dict());
  EXPECT_NE(e.find("missing entry '0.momentum_buffer'"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected entry '0.exp_avg'"), std::string::npos) << e;
  StateDict bad = momentum.state_dict();  // with buffers: two entries per parameter
  set(bad, "1.started", state_count(2));
  EXPECT_EQ(load_error(momentum, bad), "SGD: load_state_dict: nothing loaded: entry '1.started' is 2, must be 0 or 1");
  EXPECT_EQ(
      load_error(plain, {{"lr", state_scalar(0.1)}, {"0.started", state_count(-1)}, {"1.started", state_count(1)}}),
      "SGD: load_state_dict: nothing loaded: entry '0.started' is -1, must be 0 or 1");
}

TEST(OptimizerLoadErrors, ParametersOfAnotherDtypeAreRefused) {
  Tensor p32 = Tensor::zeros({2}).set_requires_grad(), p64 = Tensor::zeros({2}, DType::Float64).set_requires_grad();
  SGD a({p32}, 0.1, 0.9), b({p64}, 0.1, 0.9);
  EXPECT_NE(load_error(b, a.state_dict()).find("entry '0.momentum_buffer' has dtype float32, expected float64"),
            std::string::npos);
}

TEST(StepLRLoadErrors, EntriesAreCheckedBeforeAnythingChanges) {
  Tensor p = Tensor::zeros({1}).set_requires_grad();
  SGD opt({p}, 0.5);
  StepLR sched(opt, 2);
  sched.step();
  auto expect_unchanged = [&](const StateDict& bad, const std::string& message) {
    const std::string e = error_of([&] { sched.load_state_dict(bad); });
    EXPECT_NE(e.find(message), std::string::npos) << e;
    EXPECT_EQ(sched.last_step(), 1);
    EXPECT_EQ(sched.base_lr(), 0.5);
  };
  expect_unchanged({{"t", state_count(4)}}, "StepLR: load_state_dict: nothing loaded: missing entry 'base_lr'");
  expect_unchanged({{"t", state_count(-1)}, {"base_lr", state_scalar(1)}}, "entry 't' is -1, must be >= 0");
  expect_unchanged({{"t", state_count(4)}, {"base_lr", state_scalar(-1)}}, "entry 'base_lr' is -1, must be >= 0");
  expect_unchanged({{"t", state_scalar(4)}, {"base_lr", state_scalar(1)}},
                   "entry 't' has dtype float64, expected int64");
}

}  // namespace
}  // namespace gn::nn
