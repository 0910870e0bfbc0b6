// app::Evaluator: per-task metrics accumulated over every batch of an evaluation set.
#include "apps/common/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "tests/apps/app_test_support.h"

namespace gn::app {
namespace {

// The mean squared error of every task over the whole set, on the host in double from one forward.
std::vector<double> one_shot_mse(multitask::MultitaskModel& model, const Dataset& d) {
  NoGradGuard no_grad;
  const auto preds = model.forward_all(d.x);
  std::vector<double> out;
  for (std::size_t i = 0; i < preds.size(); ++i) {
    const auto p = preds[i].to_vector(), t = d.targets[i].to_vector();
    double sum = 0;
    for (std::size_t k = 0; k < p.size(); ++k) sum += (p[k] - t[k]) * (p[k] - t[k]);
    out.push_back(sum / static_cast<double>(p.size()));
  }
  return out;
}

// The mean absolute error and the fraction of elements within 1 of their target: one accumulator with two
// values of opposite directions, to check a task's own metrics replace the default and are flattened.
class MaeMetric : public multitask::Metric {
 public:
  std::string name() const override { return "mae"; }
  void reset() override { sum_ = 0, within_ = 0, count_ = 0; }
  void add(const Tensor& pred, const Tensor& target) override {
    const auto p = pred.to_vector(), t = target.to_vector();
    for (std::size_t k = 0; k < p.size(); ++k) {
      sum_ += std::abs(p[k] - t[k]);
      within_ += std::abs(p[k] - t[k]) < 1.0 ? 1 : 0;
    }
    count_ += static_cast<double>(p.size());
    ++batches;
  }
  std::vector<multitask::MetricValue> values() const override {
    return {{"mae", sum_ / count_, false}, {"within_1", within_ / count_, true}};
  }
  std::vector<double> accumulators() const override { return {sum_, within_, count_}; }
  void set_accumulators(std::span<const double> acc) override { sum_ = acc[0], within_ = acc[1], count_ = acc[2]; }
  int batches = 0;

 private:
  double sum_ = 0, within_ = 0, count_ = 0;
};

// Records the training mode of every forward.
struct ModeProbe : nn::Module {
  Tensor forward(const Tensor& x) override {
    seen_training.push_back(is_training());
    return x;
  }
  std::vector<bool> seen_training;
};

// Targets far off for the last samples only, so an average of per-batch averages (uneven batches) would
// differ clearly from the average over all samples.
Dataset skewed_dataset() {
  Dataset d = testing::random_dataset(10, 4, 2, 2, 4);
  std::vector<double> t = d.targets[1].to_vector();
  for (std::size_t k = 18; k < t.size(); ++k) t[k] += 50.0;  // sample 9
  d.targets[1] = Tensor::from_vector(t, {10, 2});
  return d;
}

TEST(Evaluator, AccumulatingOverBatchesEqualsOneShot) {
  auto model = testing::tiny_model(4, 2, 2);
  const Dataset d = skewed_dataset();
  const std::vector<double> expected = one_shot_mse(*model, d);
  for (std::int64_t batch : {0, 1, 3, 4, 10, 25}) {  // 3: batches of 3, 3, 3, 1
    Evaluator eval(*model, d, batch);
    const EvalResult r = eval.evaluate();
    ASSERT_EQ(r.tasks.size(), 2u);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(r.tasks[i].task, "task" + std::to_string(i));
      EXPECT_EQ(r.tasks[i].metrics, std::vector<std::string>{"mse"});  // the default metric
      EXPECT_EQ(r.tasks[i].higher_is_better, std::vector<bool>{false});
      EXPECT_NEAR(r.tasks[i].values[0], expected[i], 1e-6 * expected[i]) << "batch " << batch << " task " << i;
    }
    EXPECT_EQ(r.first(), (std::vector<double>{r.tasks[0].values[0], r.tasks[1].values[0]}));
    EXPECT_EQ(eval.evaluate().first(), r.first()) << "a second evaluation must start from reset metrics";
  }
}

TEST(Evaluator, UsesTheTasksOwnMetricsAndRestoresTrainingMode) {
  auto base = testing::tiny_model(4, 2, 2);
  auto mae = std::make_shared<MaeMetric>();
  std::vector<multitask::Task> tasks{base->task(0), base->task(1)};
  tasks[1].metrics = {mae, std::make_shared<multitask::MseMetric>()};
  auto probe = std::make_shared<ModeProbe>();
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(probe);
  trunk->push_back(std::shared_ptr<nn::Module>(base, &base->trunk_below()));
  multitask::MultitaskModel model(trunk, std::shared_ptr<nn::SharedLayer>(base, &base->shared()), tasks);
  Evaluator eval(model, skewed_dataset(), 4);
  const EvalResult r = eval.evaluate();
  EXPECT_EQ(r.tasks[0].metrics, std::vector<std::string>{"mse"});
  EXPECT_EQ(r.tasks[1].metrics, (std::vector<std::string>{"mae", "within_1", "mse"}));  // flattened in order
  EXPECT_EQ(r.tasks[1].higher_is_better, (std::vector<bool>{false, true, false}));
  ASSERT_EQ(r.tasks[1].values.size(), 3u);
  EXPECT_EQ(mae->batches, 3);  // 4 + 4 + 2 samples
  EXPECT_GT(r.tasks[1].values[0], 0.0);
  EXPECT_GE(r.tasks[1].values[1], 0.0);
  EXPECT_LE(r.tasks[1].values[1], 1.0);
  EXPECT_EQ(r.first(), (std::vector<double>{r.tasks[0].values[0], r.tasks[1].values[0]}));  // mae, not within_1
  const std::vector<multitask::MetricValue> mv = r.tasks[1].metric_values();
  ASSERT_EQ(mv.size(), 3u);
  EXPECT_EQ(mv[1].name, "within_1");
  EXPECT_EQ(mv[1].value, r.tasks[1].values[1]);
  EXPECT_TRUE(mv[1].higher_is_better);
  EXPECT_EQ(probe->seen_training, std::vector<bool>(3, false));  // evaluated in evaluation mode
  EXPECT_TRUE(model.is_training());
  model.eval();
  eval.evaluate();
  EXPECT_FALSE(model.is_training());
}

TEST(Evaluator, RejectsDataWithTheWrongNumberOfTasks) {
  auto model = testing::tiny_model(4, 2, 2);
  EXPECT_THROW(Evaluator(*model, testing::random_dataset(5, 4, 2, 3, 1)), Error);
}

}  // namespace
}  // namespace gn::app
