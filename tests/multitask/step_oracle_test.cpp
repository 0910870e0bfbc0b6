// The fast multitask step (one batched product at W, one norm reduction, one trunk backward) must equal
// the naive oracle (T full backward passes, materialised per-task gradients) in float64, step after step,
// for every weighting method, with all-MSE tasks (the fused kernel path) and with mixed task losses
// (MSE + cross-entropy: the autograd-loss path).
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

struct OracleCase {
  const char* method;
  double alpha;
  bool mixed_losses;
  const char* weight_param = "linear";  // GradNorm's parameterisation of w
  bool norm_weight_only = false;        // G_i over W's weight alone
};

std::string case_name(const ::testing::TestParamInfo<OracleCase>& info) {
  std::string name = info.param.method;
  for (char& c : name)
    if (c == '-') c = '_';
  name += "_alpha" + std::to_string(static_cast<int>(info.param.alpha * 10));
  if (std::string(info.param.weight_param) != "linear") name += std::string("_") + info.param.weight_param;
  if (info.param.norm_weight_only) name += "_weight_only";
  return name + (info.param.mixed_losses ? "_mixed" : "_mse");
}

class StepOracle : public ::testing::TestWithParam<OracleCase> {};

TEST_P(StepOracle, FastStepEqualsNaive) {
  const OracleCase c = GetParam();
  const int T = 3;
  auto make = [&](std::uint64_t seed) { return c.mixed_losses ? mixed_model({}, seed) : tiny_model({}, seed); };
  auto batch = [&](std::uint64_t seed) { return c.mixed_losses ? mixed_batch({}, seed) : tiny_batch({}, seed); };
  auto fast_model = make(7), naive_model = make(7);
  ASSERT_EQ(fast_model->all_mse(), !c.mixed_losses);
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = c.alpha;
  cfg.gradnorm.optimizer = "sgd";  // plain SGD on w: its update is exactly -lr * dLgrad/dw
  cfg.gradnorm.lr = 0.05;
  cfg.gradnorm.weight_param = c.weight_param;
  cfg.gradnorm.norm_weight_only = c.norm_weight_only;
  cfg.static_weights = {0.5, 2.0, 0.5};
  auto fast_w = multitask::make_weighting(c.method, T, cfg);
  auto naive_w = multitask::make_weighting(c.method, T, cfg);
  nn::SGD fast_opt(fast_model->parameters(), 0.05, 0.9), naive_opt(naive_model->parameters(), 0.05, 0.9);
  multitask::MultitaskStep stepper(*fast_model, *fast_w, fast_opt);
  for (int t = 0; t < 4; ++t) {
    const TinyBatch b = batch(100 + t);
    const auto fast = stepper.step(b.x, b.y);
    const auto naive = multitask::naive_step(*naive_model, *naive_w, naive_opt, b.x, b.y, t);
    constexpr double kTol = 1e-10;  // float64, a few hundred flops per value: far below any real discrepancy
    expect_vectors_near(fast.losses, naive.losses, kTol, "losses");
    expect_vectors_near(fast.weights, naive.weights, kTol, "weights");
    expect_vectors_near(fast.grad_norms, naive.grad_norms, kTol, "grad_norms");
    expect_vectors_near(fast.weighted_norms, naive.weighted_norms, kTol, "weighted_norms");
    expect_vectors_near(fast.next_weights, naive.next_weights, kTol, "next_weights");
    ASSERT_EQ(fast.diagnostics.entries.size(), naive.diagnostics.entries.size());
    for (const auto& [name, values] : naive.diagnostics.entries)
      expect_vectors_near(fast.diagnostics.at(name), values, kTol, name.c_str());
    EXPECT_LT(max_abs_diff(fast_model->parameters(), naive_model->parameters()), kTol) << "parameters after step " << t;
  }
  const auto w = fast_w->read_weights();
  if (std::string(c.method) == "gradnorm" || std::string(c.method) == "uncertainty") {
    EXPECT_GT(std::abs(w[0] - 1.0), 1e-3) << "the weights must really move, so the update was compared";
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryMethod, StepOracle,
    ::testing::Values(OracleCase{"equal", 0, false}, OracleCase{"static", 0, false}, OracleCase{"gradnorm", 0.5, false},
                      OracleCase{"gradnorm", 0.0, false}, OracleCase{"uncertainty", 0, false},
                      OracleCase{"gradnorm-static", 0, false}, OracleCase{"equal", 0, true},
                      OracleCase{"static", 0, true}, OracleCase{"gradnorm", 1.5, true},
                      OracleCase{"gradnorm", 0.0, true}, OracleCase{"uncertainty", 0, true},
                      OracleCase{"gradnorm-static", 0, true}, OracleCase{"gradnorm", 0.5, false, "log"},
                      OracleCase{"gradnorm", 1.5, true, "linear", true}, OracleCase{"gradnorm", 0.5, false, "softmax"},
                      OracleCase{"gradnorm", 1.5, true, "log"}, OracleCase{"gradnorm", 1.5, true, "softmax"}),
    case_name);

// Equal weighting through the multitask step = plain training on the summed loss.
// norm_weight_only leaves W's bias out of G_i: the same first step gives g_i^2 (weight only) + the bias
// part = g_i^2 (weight and bias), so every weight-only norm is strictly smaller (the bias gradients are not 0).
TEST(StepOracleExtra, WeightOnlyNormsLeaveOutTheBias) {
  std::vector<std::vector<double>> norms;
  for (bool weight_only : {false, true}) {
    auto model = tiny_model({}, 7);
    multitask::WeightingConfig cfg;
    cfg.gradnorm.norm_weight_only = weight_only;
    auto w = multitask::make_weighting("gradnorm", 3, cfg);
    nn::SGD opt(model->parameters(), 0.05, 0.9);
    multitask::MultitaskStep stepper(*model, *w, opt);
    const TinyBatch b = tiny_batch({}, 100);
    norms.push_back(stepper.step(b.x, b.y).grad_norms);
  }
  ASSERT_EQ(norms[0].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(norms[1][i], norms[0][i] * (1 - 1e-6)) << "task " << i;
    EXPECT_GT(norms[1][i], 0) << "task " << i;
  }
}

TEST(StepOracleExtra, EqualWeightingEqualsSummedLossTraining) {
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

// The autograd-loss path (MSE written as a custom task loss) equals the fused multitask-MSE kernel path.
TEST(StepOracleExtra, AutogradLossPathEqualsFusedMsePath) {
  const TinyProblem p;
  auto a = tiny_model(p, 5), b_fused = tiny_model(p, 5);
  std::vector<multitask::Task> tasks;
  for (int i = 0; i < p.tasks; ++i)
    tasks.push_back(
        {"t" + std::to_string(i),
         b_fused->task(i).head,
         multitask::TaskLoss::custom("mse", [](const Tensor& pr, const Tensor& y) { return mse_loss(pr, y); }),
         {}});
  auto trunk = std::shared_ptr<nn::Module>(b_fused, &b_fused->trunk_below());
  auto shared = std::shared_ptr<nn::SharedLayer>(b_fused, &b_fused->shared());
  multitask::MultitaskModel b(trunk, shared, std::move(tasks));
  ASSERT_FALSE(b.all_mse());
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 1.0;
  auto wa = multitask::make_weighting("gradnorm", p.tasks, cfg),
       wb = multitask::make_weighting("gradnorm", p.tasks, cfg);
  nn::SGD opt_a(a->parameters(), 0.01), opt_b(b.parameters(), 0.01);
  multitask::MultitaskStep fused(*a, *wa, opt_a), generic(b, *wb, opt_b);
  for (int t = 0; t < 3; ++t) {
    const TinyBatch batch = tiny_batch(p, 70 + t);
    const auto sa = fused.step(batch.x, batch.y), sb = generic.step(batch.x, batch.y);
    expect_vectors_near(sa.weighted_norms, sb.weighted_norms, 1e-12, "weighted_norms");
    EXPECT_LT(max_abs_diff(a->parameters(), b.parameters()), 1e-12);
  }
}

}  // namespace
}  // namespace gn
