// Every weighting stops on divergence: the step records the first non-finite loss L_i, gradient norm G_i or
// weight w_i and throws TrainingDiverged naming the step, the task (index and name) and the quantity.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "core/device.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/optimizer_factory.h"
#include "tests/cuda_test_support.h"
#include "tests/multitask/model_fixture.h"

namespace gn::multitask {
namespace {

using testing_support::TinyProblem;

struct Outcome {
  std::string message;     // empty: no divergence within max_steps
  std::int64_t step = -1;  // TrainingDiverged::step
  std::int64_t steps = 0;  // steps started
};

Outcome train(MultitaskModel& model, LossWeighting& weighting, double lr, const Tensor& x, const std::vector<Tensor>& y,
              int max_steps = 300, bool want_stats = false) {
  auto opt = nn::make_optimizer("sgd", model.parameters(), {.lr = lr});
  MultitaskStep step(model, weighting, *opt);
  Outcome o;
  try {
    for (; o.steps < max_steps;) {
      ++o.steps;
      step.step(x, y, want_stats);
    }
  } catch (const TrainingDiverged& e) {
    o.message = e.what();
    o.step = e.step;
  }
  return o;
}

// "training diverged at step S: task I ('taskI') QUANTITY is VALUE", S the step that threw.
void expect_named(const Outcome& o, const std::string& method) {
  static const std::regex form(
      R"(training diverged at step (\d+): task (\d+) \('task(\d+)'\) (loss L_(\d+)|gradient norm G_(\d+) at W|weight w_(\d+) \(after the update\)) is (inf|-inf|nan))");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(o.message, m, form)) << method << ": '" << o.message << "'";
  EXPECT_EQ(std::stoll(m[1].str()), o.step) << method;
  EXPECT_EQ(o.step, o.steps - 1) << method << ": on the CPU the step that diverges throws";
  EXPECT_EQ(m[2].str(), m[3].str()) << method;
  const std::string idx = m[5].matched ? m[5].str() : m[6].matched ? m[6].str() : m[7].str();
  EXPECT_EQ(m[2].str(), idx) << method;
}

TEST(Divergence, EveryMethodStopsUnderAHugeLearningRate) {
  const TinyProblem p;
  const auto batch = testing_support::tiny_batch(p, 5);
  WeightingConfig config;
  config.static_weights = {1e30, 1, 1};
  for (const std::string method : {"equal", "uncertainty", "static", "gradnorm"}) {
    for (bool want_stats : {false, true}) {
      auto model = testing_support::tiny_model(p, 9);
      auto weighting = make_weighting(method, p.tasks, config);
      const Outcome o = train(*model, *weighting, 1e6, batch.x, batch.y, 300, want_stats);
      ASSERT_FALSE(o.message.empty()) << method << " did not diverge";
      expect_named(o, method);
    }
  }
}

TEST(Divergence, NamesTheStepTheTaskAndTheLoss) {
  const TinyProblem p;
  auto batch = testing_support::tiny_batch(p, 5);
  std::vector<double> y1(static_cast<std::size_t>(p.batch * p.out), 0.5);
  y1[3] = INFINITY;
  batch.y[1] = Tensor::from_vector(y1, {p.batch, p.out}, DType::Float64);
  auto model = testing_support::tiny_model(p, 9);
  EqualWeighting equal(p.tasks);
  const Outcome o = train(*model, equal, 1e-3, batch.x, batch.y);
  EXPECT_EQ(o.message, "training diverged at step 0: task 1 ('task1') loss L_1 is inf");
  EXPECT_EQ(o.step, 0);
}

TEST(Divergence, LaterStepIsNamed) {
  // Finite until step 3, then task 2's target turns NaN.
  const TinyProblem p;
  const auto batch = testing_support::tiny_batch(p, 5);
  auto model = testing_support::tiny_model(p, 9);
  UncertaintyWeighting uncertainty(p.tasks);
  auto opt = nn::make_optimizer("sgd", model->parameters(), {.lr = 1e-3});
  MultitaskStep step(*model, uncertainty, *opt);
  for (int t = 0; t < 3; ++t) step.step(batch.x, batch.y, false);
  std::vector<Tensor> bad = batch.y;
  std::vector<double> y2(static_cast<std::size_t>(p.batch * p.out), NAN);
  bad[2] = Tensor::from_vector(y2, {p.batch, p.out}, DType::Float64);
  try {
    step.step(batch.x, bad, false);
    FAIL() << "no divergence reported";
  } catch (const TrainingDiverged& e) {
    EXPECT_EQ(std::string(e.what()), "training diverged at step 3: task 2 ('task2') loss L_2 is nan");
    EXPECT_EQ(e.step, 3);
  }
}

TEST(Divergence, StaticWeightThatOverflowsTheModelDtypeIsNamed) {
  // 1e300 is a finite float64 weight but inf as the float32 copy the loss kernels use.
  Generator gen(4);
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(std::make_shared<nn::Linear>(3, 4, gen));
  auto shared = std::make_shared<nn::Linear>(4, 4, gen);
  std::vector<std::shared_ptr<nn::Module>> heads;
  for (int i = 0; i < 2; ++i) heads.push_back(std::make_shared<nn::Linear>(4, 2, gen));
  MultitaskModel model(trunk, shared, heads);
  const Tensor x = Tensor::randn({5, 3}, gen);
  const std::vector<Tensor> y{Tensor::randn({5, 2}, gen), Tensor::randn({5, 2}, gen)};
  StaticWeighting weights({1, 1e300});
  const Outcome o = train(model, weights, 1e-3, x, y);
  EXPECT_EQ(o.message, "training diverged at step 0: task 1 ('task1') weight w_1 (after the update) is inf");
}

// On CUDA the record stays on the device: steps without stats do not sync or throw; the next stats read
// (or check_divergence) names the FIRST diverged step, as the CPU does at once.
TEST(Divergence, CudaRecordNamesTheFirstStepAtTheNextRead) {
  GN_SKIP_WITHOUT_CUDA();
  Generator gen(4);
  const Tensor x = Tensor::randn({5, 3}, gen);
  const std::vector<Tensor> y{Tensor::randn({5, 2}, gen), Tensor::randn({5, 2}, gen)};
  std::vector<double> nan_target(10, 0.5);
  nan_target[7] = NAN;
  const std::vector<Tensor> bad{y[0], Tensor::from_vector(nan_target, {5, 2})};
  for (const std::string method : {"equal", "uncertainty", "gradnorm"}) {
    Generator g(5);
    const Device d = cuda_device();
    auto trunk = std::make_shared<nn::Sequential>();
    trunk->push_back(std::make_shared<nn::Linear>(3, 4, g, true, DType::Float32, d));
    auto shared = std::make_shared<nn::Linear>(4, 4, g, true, DType::Float32, d);
    std::vector<std::shared_ptr<nn::Module>> heads;
    for (int i = 0; i < 2; ++i) heads.push_back(std::make_shared<nn::Linear>(4, 2, g, true, DType::Float32, d));
    MultitaskModel model(trunk, shared, heads);
    auto weighting = make_weighting(method, 2, WeightingConfig{});
    auto opt = nn::make_optimizer("sgd", model.parameters(), {.lr = 1e-3});
    MultitaskStep step(model, *weighting, *opt);
    const Tensor xd = x.to(d);
    const std::vector<Tensor> yd{y[0].to(d), y[1].to(d)}, badd{bad[0].to(d), bad[1].to(d)};
    for (int t = 0; t < 3; ++t) step.step(xd, yd, false);
    EXPECT_NO_THROW(step.check_divergence()) << method;
    EXPECT_NO_THROW(step.step(xd, badd, false)) << method << ": no host sync on a step without stats";
    for (int t = 0; t < 2; ++t) {
      try {
        step.step(xd, yd, false);
      } catch (const TrainingDiverged&) {  // gradnorm's own check may see the NaN later: fine, keep going
      }
    }
    try {
      step.check_divergence();
      FAIL() << method << ": no divergence reported";
    } catch (const TrainingDiverged& e) {
      EXPECT_EQ(std::string(e.what()), "training diverged at step 3: task 1 ('task1') loss L_1 is nan") << method;
      EXPECT_EQ(e.step, 3);
    }
  }
}

}  // namespace
}  // namespace gn::multitask
