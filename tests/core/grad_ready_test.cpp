// The engine's gradient-ready hook (core/grad_ready.h): every listed leaf fires exactly once per backward
// call, after its final accumulation (the gradient the callback sees is the final .grad), for leaves used
// several times, leaves the backward does not reach (fired first, gradient untouched), leaves whose paths give
// no gradient, repeated backward calls over one graph; and the refusals.
#include "core/grad_ready.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using gn_test::throws_error_with;
using Vec = std::vector<double>;

Tensor leaf(const Vec& v, const Shape& s) { return Tensor::from_vector(v, s, DType::Float64).set_requires_grad(); }

// What the hook saw: the order of the calls and each leaf's .grad at its call (a copy; empty: undefined).
struct Seen {
  std::vector<std::size_t> order;
  std::vector<Vec> grads;
  std::vector<int> calls;
};

gn::GradReadyHook recorder(std::span<const Tensor> leaves, Seen& seen) {
  seen.grads.assign(leaves.size(), {});
  seen.calls.assign(leaves.size(), 0);
  return {leaves, [leaves, &seen](std::size_t k) {
            seen.order.push_back(k);
            ++seen.calls[k];
            const Tensor g = leaves[k].grad();
            seen.grads[k] = g.defined() ? g.to_vector() : Vec{};
          }};
}

void backward_with(const Tensor& root, const gn::GradReadyHook& hook) {
  const Tensor roots[] = {root};
  gn::backward(roots, {}, hook);
}

TEST(GradReady, FiresOnceAfterTheFinalAccumulationOfALeafUsedSeveralTimes) {
  // L = sum(x*x*w + x + tanh(x)): x feeds four ops, w one.
  Tensor x = leaf({1.5, -2, 0.25}, {3});
  Tensor w = leaf({0.5, 3, -1}, {3});
  const Tensor L = gn::sum(gn::add(gn::add(gn::mul(gn::mul(x, x), w), x), gn::tanh(x)));
  const std::vector<Tensor> leaves{x, w};
  Seen seen;
  backward_with(L, recorder(leaves, seen));
  EXPECT_EQ(seen.calls, (std::vector<int>{1, 1}));
  EXPECT_EQ(seen.grads[0], x.grad().to_vector()) << "x's gradient at its hook is the final one";
  EXPECT_EQ(seen.grads[1], w.grad().to_vector());
  // And the hook changed nothing: the same as a plain backward.
  Tensor x2 = leaf({1.5, -2, 0.25}, {3}), w2 = leaf({0.5, 3, -1}, {3});
  gn::backward(gn::sum(gn::add(gn::add(gn::mul(gn::mul(x2, x2), w2), x2), gn::tanh(x2))));
  EXPECT_EQ(x.grad().to_vector(), x2.grad().to_vector());
  EXPECT_EQ(w.grad().to_vector(), w2.grad().to_vector());
}

TEST(GradReady, ALayerFiresBeforeTheLayersBelowItHaveTheirGradients) {
  // A chain x -> w1 -> w2 -> w3 -> L: w3's gradient is final as soon as the top op has run, while w1's
  // needs the whole backward. This is what lets a bucket of the last layers start early.
  Tensor x = leaf({0.3, -0.7}, {2});
  Tensor w1 = leaf({1, 2}, {2}), w2 = leaf({-1, 0.5}, {2}), w3 = leaf({2, 2}, {2});
  const Tensor L = gn::sum(gn::mul(gn::tanh(gn::mul(gn::tanh(gn::mul(x, w1)), w2)), w3));
  const std::vector<Tensor> leaves{w1, w2, w3};
  std::vector<std::size_t> order;
  std::vector<bool> w1_done_at;
  const gn::GradReadyHook hook{leaves, [&](std::size_t k) {
                                 order.push_back(k);
                                 w1_done_at.push_back(w1.grad().defined());
                               }};
  backward_with(L, hook);
  EXPECT_EQ(order, (std::vector<std::size_t>{2, 1, 0}));
  EXPECT_EQ(w1_done_at, (std::vector<bool>{false, false, true}));
}

TEST(GradReady, LeavesTheBackwardDoesNotReachFireFirstWithTheirGradientUntouched) {
  Tensor x = leaf({1, 2}, {2});
  Tensor unused = leaf({5}, {1});    // not in the graph, no gradient
  Tensor had_grad = leaf({6}, {1});  // not in the graph, an old gradient
  had_grad.set_grad(Tensor::from_vector(Vec{7}, {1}, DType::Float64));
  Tensor constant = Tensor::from_vector(Vec{3, 4}, {2}, DType::Float64);  // in the graph, needs no grad
  const Tensor L = gn::sum(gn::mul(x, constant));
  const std::vector<Tensor> leaves{x, unused, had_grad, constant};
  Seen seen;
  backward_with(L, recorder(leaves, seen));
  EXPECT_EQ(seen.calls, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(seen.order, (std::vector<std::size_t>{1, 2, 3, 0})) << "the unreached ones, in list order, first";
  EXPECT_EQ(seen.grads[1], Vec{});
  EXPECT_FALSE(unused.grad().defined()) << "no gradient is invented";
  EXPECT_EQ(seen.grads[2], Vec{7});
  EXPECT_EQ(had_grad.grad().to_vector(), Vec{7});
  EXPECT_EQ(seen.grads[0], (Vec{3, 4}));
}

TEST(GradReady, ALeafWhosePathsGiveNoGradientFiresWithoutOne) {
  // An op whose backward returns no gradient for its input: the leaf is reached but receives nothing.
  Tensor x = leaf({1, 2}, {2});
  Tensor w = leaf({3, 4}, {2});
  const Tensor stopped =
      gn::record(x.detach().clone(), "stop", {x}, [](const Tensor&) { return std::vector<Tensor>{Tensor()}; });
  const Tensor L = gn::sum(gn::mul(stopped, w));
  const std::vector<Tensor> leaves{x, w};
  Seen seen;
  backward_with(L, recorder(leaves, seen));
  EXPECT_EQ(seen.calls, (std::vector<int>{1, 1}));
  EXPECT_EQ(seen.grads[0], Vec{});
  EXPECT_FALSE(x.grad().defined());
  EXPECT_EQ(seen.grads[1], (Vec{1, 2}));
}

TEST(GradReady, EveryBackwardCallFiresAgainAfterItsOwnAccumulation) {
  // The engine runs a graph twice (gradients accumulate); each call fires each leaf once, with the sum so far.
  Tensor x = leaf({0.5, -1}, {2});
  const Tensor L = gn::sum(gn::mul(x, x));
  const std::vector<Tensor> leaves{x};
  Seen first, second;
  backward_with(L, recorder(leaves, first));
  EXPECT_EQ(first.grads[0], (Vec{1, -2}));
  backward_with(L, recorder(leaves, second));
  EXPECT_EQ(second.calls, (std::vector<int>{1}));
  EXPECT_EQ(second.grads[0], (Vec{2, -4}));
  EXPECT_EQ(x.grad().to_vector(), (Vec{2, -4}));
}

TEST(GradReady, ARootThatIsALeafFires) {
  Tensor x = leaf({2, 3}, {2});
  const std::vector<Tensor> leaves{x};
  Seen seen;
  const Tensor roots[] = {x}, seeds[] = {Tensor::from_vector(Vec{1, 10}, {2}, DType::Float64)};
  gn::backward(roots, seeds, recorder(leaves, seen));
  EXPECT_EQ(seen.grads[0], (Vec{1, 10}));
}

TEST(GradReady, RefusesNonLeavesDuplicatesAndAMissingCallback) {
  Tensor x = leaf({1, 2}, {2});
  const Tensor y = gn::mul(x, 2.0);
  const Tensor L = gn::sum(y);
  const auto nothing = [](std::size_t) {};
  const std::vector<Tensor> not_leaf{x, y}, twice{x, x}, undefined{Tensor()};
  EXPECT_TRUE(throws_error_with(
      [&] {
        backward_with(L, {not_leaf, nothing});
      },
      {"tensor 1 of shape (2,)", "not a leaf"}));
  EXPECT_TRUE(throws_error_with([&] { backward_with(L, {twice, nothing}); }, {"tensor 1 is listed twice"}));
  EXPECT_TRUE(throws_error_with([&] { backward_with(L, {undefined, nothing}); }, {"gradient-ready leaf"}));
  EXPECT_TRUE(throws_error_with([&] { backward_with(L, {not_leaf, {}}); }, {"has no callback"}));
  EXPECT_FALSE(x.grad().defined()) << "a refused hook runs no backward";
}

TEST(GradReady, AnExceptionFromTheCallbackLeavesBackward) {
  Tensor x = leaf({1}, {1});
  const std::vector<Tensor> leaves{x};
  const gn::GradReadyHook hook{leaves, [](std::size_t) { throw gn::Error("from the hook"); }};
  EXPECT_TRUE(throws_error_with([&] { backward_with(gn::sum(x), hook); }, {"from the hook"}));
}

}  // namespace
