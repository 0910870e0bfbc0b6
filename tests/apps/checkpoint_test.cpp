// Checkpoints and resume: a toy run interrupted after its step-200 checkpoint and resumed from it ends
// bitwise where an uninterrupted run ends (parameters, weights, mean weights, every metrics row); a damaged
// checkpoint is refused with a clear error and nothing is half-loaded.
#include "apps/common/checkpoint.h"

#include <gtest/gtest.h>

#include <bit>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/shuffled_source.h"
#include "apps/common/trainer.h"
#include "apps/toy/experiment.h"
#include "core/rng.h"
#include "multitask/step.h"
#include "nn/optimizer_factory.h"
#include "tests/apps/app_test_support.h"

namespace gn::app {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / fmt::format("gn_ckpt_{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Bit patterns: NaN (the grad-norm columns of methods without norms) compares equal to itself.
std::vector<std::uint64_t> bits(const std::vector<double>& v) {
  std::vector<std::uint64_t> out;
  for (double x : v) out.push_back(std::bit_cast<std::uint64_t>(x));
  return out;
}

void expect_same_rows(const std::vector<toy::MetricRow>& a, const std::vector<toy::MetricRow>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    SCOPED_TRACE(fmt::format("row {} (step {})", k, a[k].step));
    EXPECT_EQ(a[k].step, b[k].step);
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a[k].test_loss_ratio_sum),
              std::bit_cast<std::uint64_t>(b[k].test_loss_ratio_sum));
    EXPECT_EQ(bits(a[k].weights), bits(b[k].weights));
    EXPECT_EQ(bits(a[k].train_losses), bits(b[k].train_losses));
    EXPECT_EQ(bits(a[k].test_losses), bits(b[k].test_losses));
    EXPECT_EQ(bits(a[k].grad_norms), bits(b[k].grad_norms));
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a[k].floor_hits), std::bit_cast<std::uint64_t>(b[k].floor_hits));
  }
}

toy::ToyData small_toy_data() {
  toy::ToyDataConfig data;
  data.sigmas = {1.0, 100.0};
  data.train_size = 1100;  // 11 batches an epoch: the step-200 checkpoint falls inside an epoch
  data.test_size = 200;
  return toy::make_toy_data(data);
}

toy::ToyRunConfig small_run(const std::string& method) {
  toy::ToyRunConfig run;
  run.method = method;
  run.steps = 300;
  run.log_every = 50;
  run.lr_decay_steps = 120;  // a schedule with state across the checkpoint
  run.weighting.gradnorm.alpha = 0.12;
  run.init_seed = 1001;
  run.batch_seed = 1002;
  run.checkpoint_metadata = {{"seed", "1"}};
  return run;
}

class ToyResume : public ::testing::TestWithParam<const char*> {};

TEST_P(ToyResume, InterruptedAndResumedRunIsBitwiseTheUninterruptedOne) {
  const std::string method = GetParam();
  const toy::ToyData data = small_toy_data();
  const toy::ToyRunResult full = toy::run_toy(data, small_run(method));

  const fs::path dir = temp_dir(method);
  toy::ToyRunConfig crashing = small_run(method);
  crashing.checkpoint_every = 100;
  crashing.checkpoint_dir = dir.string();
  crashing.after_step = [](std::int64_t done) {
    if (done == 250) throw std::runtime_error("simulated crash at step 250");
  };
  EXPECT_THROW(toy::run_toy(data, crashing), std::runtime_error);
  const auto saved = list_checkpoints(dir);
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved[0].first, 100);
  EXPECT_EQ(saved[1].first, 200);
  EXPECT_EQ(saved[1].second, checkpoint_path(dir, 200));

  toy::ToyRunConfig resumed_run = small_run(method);
  resumed_run.checkpoint_every = 100;
  resumed_run.checkpoint_dir = dir.string();
  resumed_run.resume = true;  // the latest: ckpt-200
  const toy::ToyRunResult resumed = toy::run_toy(data, resumed_run);
  EXPECT_EQ(resumed.start_step, 200);
  EXPECT_EQ(bits(resumed.final_parameters), bits(full.final_parameters));
  EXPECT_EQ(bits(resumed.final_weights), bits(full.final_weights));
  EXPECT_EQ(bits(resumed.mean_weights), bits(full.mean_weights));
  EXPECT_EQ(bits(resumed.initial_test_losses), bits(full.initial_test_losses));
  EXPECT_EQ(bits(resumed.final_test_losses), bits(full.final_test_losses));
  EXPECT_EQ(resumed.floor_hits, full.floor_hits) << "the floor count is checkpointed";
  if (method == "gradnorm") {
    EXPECT_GE(full.floor_hits, 0);
  } else {
    EXPECT_EQ(full.floor_hits, -1) << "no floor";
  }
  expect_same_rows(resumed.rows, full.rows);
  // Checkpoints 300 (the last step) joined; the latest 3 are kept.
  const auto after = list_checkpoints(dir);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after.back().first, 300);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Methods, ToyResume, ::testing::Values("gradnorm", "uncertainty", "equal"));

TEST(ToyCheckpoint, RefusesADamagedOrForeignCheckpoint) {
  const toy::ToyData data = small_toy_data();
  const fs::path dir = temp_dir("damaged");
  toy::ToyRunConfig run = small_run("gradnorm");
  run.steps = 100;
  run.checkpoint_every = 100;
  run.checkpoint_dir = dir.string();
  toy::run_toy(data, run);
  const fs::path good = checkpoint_path(dir, 100);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);

  auto refusal = [&](const std::string& file_bytes, toy::ToyRunConfig config) {
    const fs::path bad = dir / "bad.safetensors";
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << file_bytes;
    config.steps = 300;
    config.resume = true;
    config.resume_from = bad.string();
    try {
      toy::run_toy(data, config);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  toy::ToyRunConfig again = small_run("gradnorm");
  const std::string truncated = refusal(bytes.substr(0, bytes.size() - 100), again);
  EXPECT_NE(truncated.find("bad.safetensors"), std::string::npos) << truncated;
  EXPECT_NE(truncated.find("truncated"), std::string::npos) << truncated;
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x40;  // a bit of the tensor data
  const std::string corrupted = refusal(flipped, again);
  EXPECT_NE(corrupted.find("checksum"), std::string::npos) << corrupted;
  std::string bad_header = bytes;
  bad_header[3] = 0x7f;  // the header length
  EXPECT_NE(refusal(bad_header, again).find("header length"), std::string::npos);
  const std::string other_method = refusal(bytes, small_run("uncertainty"));
  EXPECT_NE(other_method.find("method"), std::string::npos) << other_method;
  toy::ToyRunConfig other_seed = small_run("gradnorm");
  other_seed.checkpoint_metadata = {{"seed", "2"}};
  EXPECT_NE(refusal(bytes, other_seed).find("seed"), std::string::npos);
  fs::remove_all(dir);
}

// Trainer::load_state_dict is all or nothing: when a late part (the batch order) refuses, the model,
// optimizer, weighting and step already loaded are put back.
TEST(TrainerCheckpoint, LoadIsAllOrNothing) {
  auto build = [](std::uint64_t seed) {
    struct Run {
      std::shared_ptr<multitask::MultitaskModel> model;
      std::unique_ptr<multitask::LossWeighting> weighting;
      std::unique_ptr<nn::Optimizer> opt;
      std::unique_ptr<ShuffledSource> source;
      std::unique_ptr<Trainer> trainer;
    };
    Run r;
    r.model = testing::tiny_model(3, 2, 2, seed);
    r.weighting = multitask::make_weighting("gradnorm", 2, {});
    r.opt = nn::make_optimizer("adam", r.model->parameters(), {.lr = 1e-2});
    r.source = std::make_unique<ShuffledSource>(testing::random_dataset(20, 3, 2, 2, seed), 4, seed);
    r.trainer = std::make_unique<Trainer>(*r.model, *r.weighting, *r.opt, *r.source,
                                          TrainerConfig{.steps = 7, .log_every = 100, .log_at_start = false});
    r.trainer->hooks.on_trace = nullptr;
    return r;
  };
  auto trained = build(5);
  trained.trainer->run();
  nn::StateDict state = trained.trainer->state_dict();
  auto fresh = build(6);
  const nn::StateDict before = fresh.trainer->state_dict();
  for (auto& [name, t] : state)
    if (name == "data.order") t.data<std::int64_t>()[0] = t.data<std::int64_t>()[1];  // not a permutation
  std::string err;
  try {
    fresh.trainer->load_state_dict(state);
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("not a permutation"), std::string::npos) << err;
  EXPECT_NE(err.find("nothing loaded"), std::string::npos) << err;
  const nn::StateDict after = fresh.trainer->state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].first, before[i].first);
    EXPECT_EQ(bits(after[i].second.to_vector()), bits(before[i].second.to_vector())) << after[i].first;
  }
  EXPECT_EQ(fresh.trainer->start_step(), 0);
  // The untouched state loads, and the run continues from step 7.
  auto good = build(6);
  good.trainer->load_state_dict(trained.trainer->state_dict());
  EXPECT_EQ(good.trainer->start_step(), 7);
  EXPECT_EQ(good.trainer->stepper().steps_taken(), 7);
}

// SIGINT during a run: the step finishes, a checkpoint is written, the loop stops, and resuming from it
// completes the run.
TEST(TrainerCheckpoint, SigintWritesACheckpointAndStops) {
  const fs::path dir = temp_dir("sigint");
  toy::ToyRunConfig run = small_run("gradnorm");
  run.steps = 40;
  run.checkpoint_every = 1000;  // only the stop (and the last step) write one
  run.checkpoint_dir = dir.string();
  run.after_step = [](std::int64_t done) {
    if (done == 13) std::raise(SIGINT);
  };
  install_stop_handlers();
  const toy::ToyRunResult stopped = toy::run_toy(small_toy_data(), run);
  const int sig = stop_signal();
  clear_stop_request();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  EXPECT_EQ(sig, SIGINT);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.last_checkpoint, checkpoint_path(dir, 13).string());
  ASSERT_EQ(list_checkpoints(dir).size(), 1u);
  run.after_step = nullptr;
  run.resume = true;
  const toy::ToyRunResult resumed = toy::run_toy(small_toy_data(), run);
  EXPECT_EQ(resumed.start_step, 13);
  EXPECT_FALSE(resumed.stopped);
  run.resume = false;
  run.checkpoint_every = 0;
  run.checkpoint_dir.clear();
  const toy::ToyRunResult full = toy::run_toy(small_toy_data(), run);
  EXPECT_EQ(bits(resumed.final_parameters), bits(full.final_parameters));
  expect_same_rows(resumed.rows, full.rows);
  fs::remove_all(dir);
}

TEST(GeneratorState, ContinuesTheStreamExactly) {
  Generator a(7);
  a.normal();  // leaves a Box-Muller spare
  Generator b(99);
  b.set_state(a.state());
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.normal()), std::bit_cast<std::uint64_t>(b.normal()));
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_THROW(b.set_state({}), Error);
}

TEST(ShuffledSourceState, ResumesTheSameBatchesAndRefusesBadState) {
  const Dataset data = testing::numbered_dataset(10, 1);
  ShuffledSource a(data, 3, 11);
  for (int i = 0; i < 5; ++i) a.next();  // into the second epoch
  ShuffledSource b(data, 3, 12);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.epoch(), a.epoch());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(a.next().x.to_vector(), b.next().x.to_vector()) << i;
  auto with = [&](const char* name, Tensor value) {
    nn::StateDict s = a.state_dict();
    for (auto& [n, t] : s)
      if (n == name) t = value;
    return s;
  };
  ShuffledSource c(data, 3, 13);
  const nn::StateDict before = c.state_dict();
  EXPECT_THROW(c.load_state_dict(with("cursor", nn::state_count(11))), Error);
  EXPECT_THROW(c.load_state_dict(with("order", Tensor::from_labels(std::vector<std::int64_t>(10, 0), {10}))), Error);
  EXPECT_THROW(c.load_state_dict(with("generator", Tensor::zeros({6}, DType::Int64))), Error);
  EXPECT_THROW(c.load_state_dict(with("epoch", nn::state_count(-1))), Error);
  const nn::StateDict after = c.state_dict();
  for (std::size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].second.to_vector(), before[i].second.to_vector());
}

TEST(MultitaskStepState, RestoresStepsAndTheWeightSum) {
  auto model = testing::tiny_model(3, 2, 2);
  auto weighting = multitask::make_weighting("gradnorm", 2, {});
  auto opt = nn::make_optimizer("adam", model->parameters(), {.lr = 1e-2});
  multitask::MultitaskStep step(*model, *weighting, *opt);
  const Dataset d = testing::random_dataset(4, 3, 2, 2, 1);
  for (int i = 0; i < 3; ++i) step.step(d.x, d.targets, false);
  auto model2 = testing::tiny_model(3, 2, 2);
  auto weighting2 = multitask::make_weighting("gradnorm", 2, {});
  auto opt2 = nn::make_optimizer("adam", model2->parameters(), {.lr = 1e-2});
  multitask::MultitaskStep fresh(*model2, *weighting2, *opt2);
  weighting2->load_state_dict(weighting->state_dict());
  fresh.load_state_dict(step.state_dict());
  EXPECT_EQ(fresh.steps_taken(), 3);
  EXPECT_EQ(bits(fresh.mean_weights()), bits(step.mean_weights()));
  EXPECT_THROW(
      fresh.load_state_dict({{"steps", nn::state_count(-1)}, {"weight_sum", Tensor::zeros({2}, DType::Float64)}}),
      Error);
  EXPECT_THROW(fresh.load_state_dict({{"steps", nn::state_count(1)}}), Error);
  EXPECT_EQ(fresh.steps_taken(), 3);
}

TEST(Checkpoints, ListsPrunesAndIgnoresStrayFiles) {
  const fs::path dir = temp_dir("list");
  EXPECT_FALSE(latest_checkpoint(dir / "absent").has_value());
  for (int step : {5, 100, 20, 3})
    save_checkpoint(checkpoint_path(dir, step), {{"x", nn::state_count(step)}}, {{"k", "v"}});
  std::ofstream(dir / "ckpt-999.safetensors.tmp") << "partial";
  std::ofstream(dir / "ckpt-x.safetensors") << "x";
  ASSERT_EQ(list_checkpoints(dir).size(), 4u);
  EXPECT_EQ(*latest_checkpoint(dir), checkpoint_path(dir, 100));
  prune_checkpoints(dir, 2);
  const auto left = list_checkpoints(dir);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].first, 20);
  EXPECT_EQ(left[1].first, 100);
  const nn::SafetensorsFile f = load_checkpoint(checkpoint_path(dir, 100));
  EXPECT_EQ(*f.find("format"), kCheckpointFormat);
  EXPECT_EQ(*f.find("k"), "v");
  // A safetensors file that is not a checkpoint.
  nn::save_safetensors(dir / "plain.safetensors", {{"x", nn::state_count(1)}});
  EXPECT_THROW(load_checkpoint(dir / "plain.safetensors"), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gn::app
