// app::Trainer: which hooks run at which steps, in which order, and when the step reads its statistics.
#include "apps/common/trainer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/common/shuffled_source.h"
#include "multitask/strategies.h"
#include "nn/lr_schedule.h"
#include "nn/optimizer_factory.h"
#include "tests/apps/app_test_support.h"
#include "tests/thread_communicator.h"

namespace gn::app {
namespace {

// Equal weights that count how often the step read the method's diagnostics: the step does that exactly
// when it was asked for statistics.
class CountingWeighting : public multitask::LossWeighting {
 public:
  explicit CountingWeighting(int tasks) : LossWeighting(tasks) {}
  std::string name() const override { return "counting"; }
  multitask::Diagnostics read_diagnostics() const override {
    read_at.push_back(updates() - 1);  // the step whose update was just made
    multitask::Diagnostics d;
    d.add("reads", {static_cast<double>(read_at.size())});
    return d;
  }
  mutable std::vector<std::int64_t> read_at;
};

// Always the same batch; counts the calls.
class FixedSource : public BatchSource {
 public:
  explicit FixedSource(Dataset d) : data_(std::move(d)) {}
  Batch next() override {
    ++calls;
    return data_.slice(0, data_.size());
  }
  std::int64_t batch_size() const override { return data_.size(); }
  std::int64_t epoch_size() const override { return data_.size(); }
  std::int64_t epoch() const override { return calls; }
  int calls = 0;

 private:
  Dataset data_;
};

struct Rig {
  std::shared_ptr<multitask::MultitaskModel> model = testing::tiny_model(4, 2, 2);
  CountingWeighting weighting{2};
  std::unique_ptr<nn::Optimizer> opt = nn::make_optimizer("sgd", model->parameters(), {.lr = 0.01});
  FixedSource source{testing::random_dataset(8, 4, 2, 2, 1)};
  Evaluator evaluator{*model, testing::random_dataset(6, 4, 2, 2, 2)};
};

// Every hook appends "<name> <step>".
std::vector<std::string> record(Trainer& trainer) {
  auto events = std::make_shared<std::vector<std::string>>();
  auto add = [events](const char* what, std::int64_t n) {
    events->push_back(std::string(what) + " " + std::to_string(n));
  };
  trainer.hooks.before_step = [=](std::int64_t t) { add("before", t); };
  trainer.hooks.on_trace = [=](const multitask::StepStats& s) { add("trace", s.step); };
  trainer.hooks.on_eval = [=](std::int64_t done, const EvalResult&) { add("eval", done); };
  trainer.hooks.on_log = [=](std::int64_t done, const multitask::StepStats&) { add("log", done); };
  trainer.hooks.on_progress = [=](std::int64_t done, std::int64_t) { add("progress", done); };
  trainer.hooks.after_step = [=](std::int64_t done, const multitask::StepStats&) { add("after", done); };
  trainer.run();
  return *events;
}

TEST(Trainer, CallsEveryHookAtItsStepsInOrder) {
  Rig s;
  Trainer trainer(*s.model, s.weighting, *s.opt, s.source,
                  {.steps = 3, .log_every = 2, .trace_steps = 1, .progress_every = 2}, nullptr, &s.evaluator);
  const std::vector<std::string> expected{
      "eval 0",   "log 0",                                         // before training
      "before 0", "trace 0", "after 1",                            // step 0: traced
      "before 1", "eval 2",  "log 2",   "progress 2", "after 2",   // step 1: log step
      "before 2", "eval 3",  "log 3",   "progress 3", "after 3"};  // step 2: the last
  EXPECT_EQ(record(trainer), expected);
  EXPECT_EQ(s.source.calls, 3);  // one batch per step
}

TEST(Trainer, AsksForStatisticsOnLogAndTraceStepsOnly) {
  Rig s;
  Trainer trainer(*s.model, s.weighting, *s.opt, s.source, {.steps = 10, .log_every = 4, .trace_steps = 2}, nullptr,
                  &s.evaluator);
  std::vector<std::int64_t> full, bare, logged;
  trainer.hooks.on_log = [&](std::int64_t done, const multitask::StepStats& st) {
    logged.push_back(done);
    EXPECT_EQ(st.losses.empty(), done == 0) << done;  // step 0: nothing trained yet
  };
  trainer.hooks.on_trace = [](const multitask::StepStats&) {};
  trainer.hooks.after_step = [&](std::int64_t done, const multitask::StepStats& st) {
    (st.losses.empty() ? bare : full).push_back(done - 1);
    EXPECT_EQ(st.step, done - 1);
  };
  const TrainSummary summary = trainer.run();
  EXPECT_EQ(full, (std::vector<std::int64_t>{0, 1, 3, 7, 9}));  // traced 0, 1; logged after 4, 8 and the last
  EXPECT_EQ(bare, (std::vector<std::int64_t>{2, 4, 5, 6, 8}));
  EXPECT_EQ(s.weighting.read_at, full);  // the weighting's internals were read back on those steps alone
  EXPECT_EQ(logged, (std::vector<std::int64_t>{0, 4, 8, 10}));
  EXPECT_EQ(s.weighting.updates(), 10);
  EXPECT_EQ(summary.steps, 10);
  EXPECT_GT(summary.step_ms_median, 0.0);
}

TEST(Trainer, EvaluatesOnItsOwnCadenceAndNotWithoutAnEvaluator) {
  Rig s;
  Trainer trainer(*s.model, s.weighting, *s.opt, s.source, {.steps = 7, .log_every = 2, .eval_every = 3}, nullptr,
                  &s.evaluator);
  std::vector<std::int64_t> evals, logs;
  trainer.hooks.on_eval = [&](std::int64_t done, const EvalResult& r) {
    evals.push_back(done);
    EXPECT_EQ(r.tasks.size(), 2u);
  };
  trainer.hooks.on_log = [&](std::int64_t done, const multitask::StepStats&) { logs.push_back(done); };
  trainer.run();
  EXPECT_EQ(evals, (std::vector<std::int64_t>{0, 3, 6, 7}));
  EXPECT_EQ(logs, (std::vector<std::int64_t>{0, 2, 4, 6, 7}));

  Rig t;
  Trainer no_eval(*t.model, t.weighting, *t.opt, t.source, {.steps = 2, .log_every = 1, .log_at_start = false});
  int called = 0;
  no_eval.hooks.on_eval = [&](std::int64_t, const EvalResult&) { ++called; };
  no_eval.hooks.on_log = [&](std::int64_t done, const multitask::StepStats&) { EXPECT_GT(done, 0); };
  no_eval.run();
  EXPECT_EQ(called, 0);
}

TEST(Trainer, StepsTheScheduleOncePerStepAndTrainsTheModel) {
  Rig s;
  nn::StepLR schedule(*s.opt, 2, 0.5);
  Trainer trainer(*s.model, s.weighting, *s.opt, s.source, {.steps = 5, .log_every = 5}, &schedule);
  std::vector<double> lrs;
  trainer.hooks.after_step = [&](std::int64_t, const multitask::StepStats&) { lrs.push_back(s.opt->lr()); };
  std::vector<double> losses;
  trainer.hooks.on_log = [&](std::int64_t, const multitask::StepStats& st) { losses = st.losses; };
  trainer.run();
  EXPECT_EQ(schedule.last_step(), 5);
  EXPECT_EQ(lrs, (std::vector<double>{0.01, 0.005, 0.005, 0.0025, 0.0025}));
  EXPECT_EQ(losses.size(), 2u);
  EXPECT_EQ(trainer.stepper().steps_taken(), 5);
}

TEST(Trainer, WithAShuffledSourceMatchesStepsDrivenByHand) {
  // The trainer adds nothing to the arithmetic: the same batches through MultitaskStep by hand give the
  // same weights.
  const Dataset data = testing::random_dataset(12, 4, 2, 2, 5);
  auto run = [&](bool by_hand) {
    auto model = testing::tiny_model(4, 2, 2);
    auto weighting = multitask::make_weighting("uncertainty", 2, {});
    auto opt = nn::make_optimizer("adam", model->parameters(), {.lr = 0.01});
    ShuffledSource source(data, 4, 9);
    if (by_hand) {
      multitask::MultitaskStep step(*model, *weighting, *opt);
      for (int t = 0; t < 7; ++t) {
        const Batch b = source.next();
        step.step(b.x, b.targets, false);
      }
      return step.current_weights();
    }
    Trainer trainer(*model, *weighting, *opt, source, {.steps = 7, .log_every = 3});
    trainer.run();
    return trainer.stepper().current_weights();
  };
  const std::vector<double> w = run(false);
  EXPECT_EQ(w, run(true));
  EXPECT_NE(w, (std::vector<double>{1.0, 1.0}));
}

// A source that reads only its rank's rows (BatchSource::shard, as the NYUv2 loader does under data
// parallelism) is not sliced again: 2 ranks fed their own halves train bitwise as 2 ranks fed the whole
// batch (which the trainer slices). A source sharded for another rank is refused.
class ShardedSource : public BatchSource {
 public:
  ShardedSource(Dataset d, int rank, int world) : data_(std::move(d)), rank_(rank), world_(world) {}
  Batch next() override {
    const auto [begin, end] = shard_range(data_.size(), rank_, world_);
    return data_.slice(begin, end);
  }
  std::pair<int, int> shard() const override { return {rank_, world_}; }
  std::int64_t batch_size() const override { return data_.size(); }
  std::int64_t epoch_size() const override { return data_.size(); }
  std::int64_t epoch() const override { return 0; }

 private:
  Dataset data_;
  int rank_, world_;
};

TEST(Trainer, ASourceReadingItsShardIsNotSlicedAgain) {
  std::vector<std::vector<std::vector<double>>> params(2);  // [sharded?][rank] -> flat parameters
  for (int sharded = 0; sharded < 2; ++sharded) {
    params[static_cast<std::size_t>(sharded)].resize(2);
    testing_support::ThreadWorld world(2);
    testing_support::run_ranks(world, [&](Communicator& comm) {
      auto model = testing::tiny_model(4, 2, 2);
      auto weighting = multitask::make_weighting("gradnorm", 2, {});
      auto opt = nn::make_optimizer("sgd", model->parameters(), {.lr = 0.05});
      const Dataset data = testing::random_dataset(8, 4, 2, 2, 1);
      FixedSource whole(data);
      ShardedSource mine(data, comm.rank(), 2);
      BatchSource& source = sharded ? static_cast<BatchSource&>(mine) : whole;
      Trainer trainer(*model, *weighting, *opt, source, {.steps = 3, .log_every = 3, .comm = &comm});
      trainer.run();
      std::vector<double>& out = params[static_cast<std::size_t>(sharded)][static_cast<std::size_t>(comm.rank())];
      for (const Tensor& p : model->parameters())
        for (double v : p.to_vector()) out.push_back(v);
    });
  }
  ASSERT_FALSE(params[0][0].empty());
  EXPECT_EQ(params[1][0], params[0][0]);
  EXPECT_EQ(params[1][1], params[0][1]);

  testing_support::ThreadWorld world(2);
  EXPECT_THROW(testing_support::run_ranks(
                   world,
                   [&](Communicator& comm) {
                     Rig s;
                     ShardedSource other(testing::random_dataset(8, 4, 2, 2, 1), 1 - comm.rank(), 2);
                     Trainer t(*s.model, s.weighting, *s.opt, other, {.steps = 1, .log_every = 1, .comm = &comm});
                   }),
               Error);
}

TEST(Trainer, RejectsBadConfig) {
  Rig s;
  EXPECT_THROW(Trainer(*s.model, s.weighting, *s.opt, s.source, {.steps = 3, .log_every = 0}), Error);
  EXPECT_THROW(Trainer(*s.model, s.weighting, *s.opt, s.source, {.steps = -1}), Error);
}

}  // namespace
}  // namespace gn::app
