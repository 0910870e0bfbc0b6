// gradnorm-toy: the paper's toy regression (Section 4, Figure 2). Trains each requested loss-weighting
// method from the same initial network on the same data and writes metrics, summaries and a table.
//
// Four hops to the GradNorm kernel: run_toy (experiment.cpp) -> app::Trainer::run (apps/common/trainer.cpp)
// -> MultitaskStep::step (multitask/step.cpp) -> cpu::per_task_sq_norms (kernels/cpu/task_norms.cpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <set>

#include "apps/common/checkpoint.h"
#include "apps/common/cli_checks.h"
#include "apps/common/progress.h"
#include "apps/common/writers.h"
#include "apps/toy/experiment.h"
#include "apps/toy/report.h"
#include "core/device.h"
#include "core/error.h"
#include "kernels/cpu/threads.h"
#include "nn/optimizer_factory.h"

namespace {

using namespace gn;

// T=2: the paper's (1, 100). T=10: a wide spread over the same range (the paper samples them from "a wide
// normal distribution" without giving values). Other T: log-spaced from 1 to 100.
std::vector<double> default_sigmas(int T) {
  if (T == 2) return {1.0, 100.0};
  if (T == 10) return {1, 2, 5, 10, 15, 20, 30, 50, 75, 100};
  std::vector<double> s;
  for (int i = 0; i < T; ++i) s.push_back(T == 1 ? 1.0 : std::pow(100.0, static_cast<double>(i) / (T - 1)));
  return s;
}

// Caps that keep every size computation far from overflow and every allocation plausible: a sample is
// 250 inputs and T targets of 100 values; generating 2M samples takes ~4 GB of doubles.
constexpr std::int64_t kMaxSamples = 2'000'000;
constexpr std::int64_t kMaxSteps = 1'000'000'000;

int run(int argc, char** argv) {
  CLI::App app{"gradnorm-toy: GradNorm vs equal and uncertainty weighting on the paper's toy regression"};
  int tasks = 2;
  std::vector<double> sigmas;
  std::vector<std::string> methods{"equal", "gradnorm", "uncertainty"};
  toy::ToyRunConfig run;
  toy::ToyDataConfig data;
  run.weighting.gradnorm.alpha = 0.12;
  std::uint64_t seed = 1;
  int threads = 1;
  std::string device_spec = "auto", out_dir, initial_loss = "first-step";
  bool quiet = false, resume = false;

  app.add_option("--tasks", tasks, "number of tasks T")->check(app::int_in(1, 64));
  app.add_option("--sigmas", sigmas, "task scales sigma_i, comma separated (default: T=2 1,100; T=10 1..100)")
      ->delimiter(',')
      ->check(app::finite_positive());
  app.add_option("--methods", methods, "comma separated: equal,gradnorm,uncertainty,static,gradnorm-static")
      ->delimiter(',');
  app.add_option("--alpha", run.weighting.gradnorm.alpha, "GradNorm asymmetry alpha")->check(app::finite_in(0, 100));
  app.add_option("--steps", run.steps, "training steps per method")->check(app::int_in(1, kMaxSteps));
  app.add_option("--batch", run.batch, "batch size")->check(app::int_in(1, kMaxSamples));
  app.add_option("--lr", run.lr, "network learning rate")->check(app::finite_positive());
  app.add_option("--optimizer", run.optimizer, "network optimizer")->check(CLI::IsMember(nn::optimizer_names()));
  app.add_option("--lr-decay-steps", run.lr_decay_steps, "multiply lr by --lr-decay every N steps (0: never)")
      ->check(app::int_in(0, kMaxSteps));
  app.add_option("--lr-decay", run.lr_decay, "lr decay factor")->check(app::finite_in(0, 1, true));
  app.add_option("--weight-lr", run.weighting.gradnorm.lr, "learning rate of the loss weights (paper: 0.025)")
      ->check(app::finite_positive());
  app.add_option("--weight-optimizer", run.weighting.gradnorm.optimizer, "optimizer of the GradNorm weights")
      ->check(CLI::IsMember({"adam", "sgd"}));
  app.add_option("--min-weight", run.weighting.gradnorm.min_weight, "GradNorm weight floor before renormalising")
      ->check(app::finite_in(1e-12, 0.999));
  app.add_option("--initial-loss", initial_loss, "L_i(0): first-step, mean-of-first:K or given:v1,v2,...");
  app.add_option("--static-weights", run.weighting.static_weights, "weights of the 'static' method")
      ->delimiter(',')
      ->check(app::finite_positive());
  app.add_option("--train-size", data.train_size, "training set size")->check(app::int_in(1, kMaxSamples));
  app.add_option("--test-size", data.test_size, "held-out test set size")->check(app::int_in(1, kMaxSamples));
  app.add_option("--input-std", data.input_std, "std of the inputs x (default: unit std of the tanh argument)")
      ->check(app::finite_positive());
  app.add_option("--seed", seed, "seed for data, initial network and batch order")->check(app::unsigned_int());
  app.add_option("--threads", threads, "CPU threads")->check(app::int_in(1, 256));
  app.add_option("--device", device_spec, "auto, cpu or cuda");
  app.add_option("--out", out_dir, "output directory (default runs/toy_T<T>)");
  app.add_option("--log-every", run.log_every, "evaluate the test set every N steps")->check(app::int_in(1, kMaxSteps));
  app.add_option("--trace", run.trace, "print GradNorm's internals for the first K steps")
      ->check(app::int_in(0, kMaxSteps));
  app.add_option("--checkpoint-every", run.checkpoint_every,
                 "write <out>/<method>/checkpoints/ckpt-<step>.safetensors every N steps and after the last (0: never)")
      ->check(app::int_in(0, kMaxSteps));
  app.add_option("--keep-checkpoints", run.checkpoint_keep, "checkpoints kept per method (the latest)")
      ->check(app::int_in(1, 1000000));
  app.add_flag("--resume", resume,
               "continue each method from its latest checkpoint in --out (methods without one start afresh); the "
               "settings must be the run's");
  app.add_flag("--quiet", quiet, "no progress bar");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // ---- validate what CLI11's checks cannot ----
  if (sigmas.empty()) sigmas = default_sigmas(tasks);
  GN_CHECK(static_cast<int>(sigmas.size()) == tasks, "--sigmas has {} values but --tasks is {}", sigmas.size(), tasks);
  for (double s : sigmas) GN_CHECK(std::isfinite(s) && s > 0, "--sigmas: {} is not a positive number", s);
  GN_CHECK(!methods.empty(), "--methods is empty");
  std::set<std::string> seen;
  for (const auto& m : methods) {
    GN_CHECK(std::ranges::find(multitask::weighting_names(), m) != multitask::weighting_names().end(),
             "--methods: unknown method '{}' (expected one of {})", m, fmt::join(multitask::weighting_names(), ", "));
    GN_CHECK(seen.insert(m).second, "--methods: '{}' is listed twice", m);
  }
  if (seen.contains("static"))
    GN_CHECK(static_cast<int>(run.weighting.static_weights.size()) == tasks,
             "method 'static' needs --static-weights with {} values", tasks);
  GN_CHECK(run.batch <= data.train_size, "--batch {} is larger than --train-size {}", run.batch, data.train_size);
  run.weighting.gradnorm.initial_loss = multitask::InitialLoss::parse(initial_loss);
  for (const auto& m : methods) {  // every method's settings, before any training (gradnorm-static's weights
    multitask::WeightingConfig probe = run.weighting;  // come from the GradNorm run: any T positive values)
    if (m == "gradnorm-static") probe.static_weights.assign(static_cast<std::size_t>(tasks), 1.0);
    try {
      multitask::make_weighting(m, tasks, probe);
    } catch (const Error& e) {
      GN_FAIL("--methods {}: {}", m, e.what());
    }
  }
  const Device device = parse_device(device_spec);  // throws for --device cuda without a GPU
  if (device_spec == "auto" && !cuda_available())
    fmt::print(stderr, "gradnorm-toy: using the CPU ({})\n", cuda_unavailable_reason());
  cpu::set_num_threads(threads);
  if (out_dir.empty()) out_dir = fmt::format("runs/toy_T{}", tasks);
  app::prepare_output_dir(out_dir);  // an unwritable --out fails now, not after the training

  data.sigmas = sigmas;
  data.seed = seed;
  run.init_seed = seed * 1000 + 1;
  run.batch_seed = seed * 1000 + 2;
  run.device = device;
  const toy::ToyData toy_data = toy::make_toy_data(data);

  // gradnorm-static trains with E_t[w_i(t)] of a GradNorm run: run gradnorm first (added if not asked for).
  if (seen.contains("gradnorm-static")) {
    std::erase(methods, "gradnorm");
    methods.insert(methods.begin(), "gradnorm");
  }
  // Checkpoints: what must match on --resume (the method is added by run_toy).
  run.resume = resume;
  run.checkpoint_metadata = {{"app", "gradnorm-toy"},
                             {"seed", std::to_string(seed)},
                             {"tasks", std::to_string(tasks)},
                             {"sigmas", fmt::format("{}", fmt::join(sigmas, ","))},
                             {"batch", std::to_string(run.batch)},
                             {"optimizer", run.optimizer},
                             {"train_size", std::to_string(data.train_size)},
                             {"lr", fmt::format("{}", run.lr)},
                             {"lr_decay", fmt::format("{}x{}", run.lr_decay, run.lr_decay_steps)},
                             {"alpha", fmt::format("{}", run.weighting.gradnorm.alpha)},
                             {"weight_lr", fmt::format("{}", run.weighting.gradnorm.lr)}};
  if (run.checkpoint_every > 0) app::install_stop_handlers();  // Ctrl-C: checkpoint, then exit
  std::unique_ptr<gn::app::Progress> bar;
  const std::vector<toy::ToyRunResult> results = toy::run_methods(
      toy_data, run, methods,
      [&](toy::ToyRunConfig& c) -> toy::Progress {
        const std::filesystem::path ckpt_dir = std::filesystem::path(out_dir) / c.method / "checkpoints";
        c.checkpoint_dir = c.checkpoint_every > 0 || resume ? ckpt_dir.string() : "";
        bar = std::make_unique<gn::app::Progress>(fmt::format("T={} {}", tasks, c.method));
        return [&](std::int64_t done, std::int64_t total) {
          if (!quiet) bar->update(done, total);
        };
      },
      [&](const toy::ToyRunResult& r) {
        bar.reset();
        if (r.start_step > 0) fmt::print(stderr, "gradnorm-toy: {} resumed at step {}\n", r.method, r.start_step);
        if (!r.failed.empty()) fmt::print(stderr, "gradnorm-toy: {}: {}\n", r.method, r.failed);
      });
  if (!results.empty() && results.back().stopped) {
    const toy::ToyRunResult& r = results.back();
    fmt::print(stderr, "gradnorm-toy: stopped by signal {} during {}; {}\n", app::stop_signal(), r.method,
               r.last_checkpoint.empty() ? std::string("no checkpoint written")
                                         : fmt::format("checkpoint {}: rerun with --resume", r.last_checkpoint));
    return 128 + app::stop_signal();
  }
  const toy::RunInfo info{tasks, sigmas, run.weighting.gradnorm.alpha, run.steps, seed, to_string(device), threads};
  const std::string run_id = toy::write_outputs(out_dir, info, results);
  fmt::print("{}", toy::result_table(info, results));
  fmt::print("wrote {}/metrics.csv, {}/<method>/summary.json and {}/run.json (run {})\n", out_dir, out_dir, out_dir,
             run_id);
  int failed = 0;
  for (const auto& r : results)
    if (!r.failed.empty()) {
      fmt::print(stderr, "gradnorm-toy: error: {}: {}\n", r.method, r.failed);
      ++failed;
    }
  return failed > 0 ? 3 : 0;  // 3: some method diverged (its finished rows and the others' results are written)
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "gradnorm-toy: error: {}\n", e.what());
    return 1;
  }
}
