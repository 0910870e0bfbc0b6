// The fast GradNorm step (one batched GEMM, one norm reduction, one trunk backward) must equal the naive
// oracle (T full backward passes, materialised per-task gradients) in float64, step after step.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "model_fixture.h"
#include "multitask/naive_step.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/sgd.h"

namespace gn {
namespace {

using namespace testing_support;

void expect_vectors_near(const std::vector<double>& a, const std::vector<double>& b, double rtol, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], rtol * (1 + std::abs(b[i]))) << what << "[" << i << "]";
}

void run_fast_vs_naive(const std::string& method, double alpha) {
  const TinyProblem p;
  auto fast_model = tiny_model(p, 7), naive_model = tiny_model(p, 7);
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = alpha;
  cfg.gradnorm.optimizer = "sgd";  // plain SGD on w: its update is exactly -lr * dLgrad/dw
  cfg.gradnorm.lr = 0.05;
  auto fast_w = multitask::make_weighting(method, p.tasks, cfg);
  auto naive_w = multitask::make_weighting(method, p.tasks, cfg);
  nn::SGD fast_opt(fast_model->parameters(), 0.05, 0.9), naive_opt(naive_model->parameters(), 0.05, 0.9);
  multitask::MultitaskStep stepper(*fast_model, *fast_w, fast_opt);
  for (int t = 0; t < 4; ++t) {
    const TinyBatch b = tiny_batch(p, 100 + t);
    const auto fast = stepper.step(b.x, b.y);
    const auto naive = multitask::naive_step(*naive_model, *naive_w, naive_opt, b.x, b.y, t);
    constexpr double kTol = 1e-10;  // float64, a few hundred flops per value: far below any real discrepancy
    expect_vectors_near(fast.losses, naive.losses, kTol, "losses");
    expect_vectors_near(fast.weights, naive.weights, kTol, "weights");
    expect_vectors_near(fast.grad_norms, naive.grad_norms, kTol, "grad_norms");
    expect_vectors_near(fast.weighted_norms, naive.weighted_norms, kTol, "weighted_norms");
    expect_vectors_near(fast.weight_grads, naive.weight_grads, kTol, "weight_grads");
    expect_vectors_near(fast.next_weights, naive.next_weights, kTol, "next_weights");
    EXPECT_LT(max_abs_diff(fast_model->parameters(), naive_model->parameters()), kTol) << "parameters after step " << t;
  }
  if (method == "gradnorm") {  // the weights really moved, so the comparison covered the update
    EXPECT_GT(std::abs(fast_w->weights()[0] - 1.0), 1e-3);
  }
}

TEST(StepOracle, GradNormFastStepEqualsNaive) { run_fast_vs_naive("gradnorm", 0.5); }
TEST(StepOracle, GradNormAlphaZeroEqualsNaive) { run_fast_vs_naive("gradnorm", 0.0); }
TEST(StepOracle, EqualFastStepEqualsNaive) { run_fast_vs_naive("equal", 0.0); }
TEST(StepOracle, UncertaintyFastStepEqualsNaive) { run_fast_vs_naive("uncertainty", 0.0); }

// Equal weighting through the multitask step = plain training on the summed loss.
TEST(StepOracle, EqualWeightingEqualsSummedLossTraining) {
  const TinyProblem p;
  auto a = tiny_model(p, 3), b = tiny_model(p, 3);
  multitask::EqualWeighting equal(p.tasks);
  nn::SGD opt_a(a->parameters(), 0.02, 0.5), opt_b(b->parameters(), 0.02, 0.5);
  multitask::MultitaskStep stepper(*a, equal, opt_a);
  for (int t = 0; t < 3; ++t) {
    const TinyBatch batch = tiny_batch(p, 50 + t);
    stepper.step(batch.x, batch.y);
    opt_b.zero_grad();
    const auto preds = b->forward_all(batch.x);
    Tensor total = mse_loss(preds[0], batch.y[0]);
    for (int i = 1; i < p.tasks; ++i) total = add(total, mse_loss(preds[i], batch.y[i]));
    backward(total);
    opt_b.step();
    EXPECT_LT(max_abs_diff(a->parameters(), b->parameters()), 1e-12) << "step " << t;
  }
}

// The autograd-loss path (one LossFn per task) equals the fused multitask-MSE kernel path.
TEST(StepOracle, AutogradLossPathEqualsFusedMsePath) {
  const TinyProblem p;
  auto a = tiny_model(p, 5), b = tiny_model(p, 5);
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 1.0;
  auto wa = multitask::make_weighting("gradnorm", p.tasks, cfg),
       wb = multitask::make_weighting("gradnorm", p.tasks, cfg);
  nn::SGD opt_a(a->parameters(), 0.01), opt_b(b->parameters(), 0.01);
  multitask::MultitaskStep fused(*a, *wa, opt_a);
  std::vector<multitask::LossFn> losses(p.tasks, [](const Tensor& pr, const Tensor& y) { return mse_loss(pr, y); });
  multitask::MultitaskStep generic(*b, *wb, opt_b, losses);
  for (int t = 0; t < 3; ++t) {
    const TinyBatch batch = tiny_batch(p, 70 + t);
    const auto sa = fused.step(batch.x, batch.y), sb = generic.step(batch.x, batch.y);
    expect_vectors_near(sa.weighted_norms, sb.weighted_norms, 1e-12, "weighted_norms");
    EXPECT_LT(max_abs_diff(a->parameters(), b->parameters()), 1e-12);
  }
}

}  // namespace
}  // namespace gn
