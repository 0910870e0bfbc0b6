#include "apps/toy/toy_args.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>

#include "apps/common/cli_checks.h"
#include "core/error.h"
#include "multitask/initial_loss.h"
#include "multitask/strategies.h"
#include "nn/optimizer_factory.h"

namespace gn::toy {
namespace {

// T=2: the paper's (1, 100). T=10: a wide spread over the same range (the paper samples them from "a wide
// normal distribution" without giving values). Other T: log-spaced from 1 to 100.
std::vector<double> default_sigmas(int T) {
  if (T == 2) return {1.0, 100.0};
  if (T == 10) return {1, 2, 5, 10, 15, 20, 30, 50, 75, 100};
  std::vector<double> s;
  for (int i = 0; i < T; ++i) s.push_back(T == 1 ? 1.0 : std::pow(100.0, static_cast<double>(i) / (T - 1)));
  return s;
}

}  // namespace

ToyArgs parse_toy_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"gradnorm-toy: GradNorm vs equal and uncertainty weighting on the paper's toy regression"};
  ToyOptions o;
  int& tasks = o.tasks;
  std::vector<double>& sigmas = o.sigmas;
  std::vector<std::string>& methods = o.methods;
  ToyRunConfig& run = o.run;
  ToyDataConfig& data = o.data;
  run.weighting.gradnorm.alpha = 0.12;

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
  app.add_option("--weight-param", run.weighting.gradnorm.weight_param,
                 "what GradNorm's weight optimizer updates: linear (w, floored), log (s = log w) or softmax "
                 "(w = T softmax(s))")
      ->check(CLI::IsMember({"linear", "log", "softmax"}));
  app.add_option("--norm-params", o.norm_params,
                 "which parameters of W GradNorm's norms G_i cover: weight+bias (default) or weight (the paper's "
                 "literal \"weights\")")
      ->check(CLI::IsMember({"weight+bias", "weight"}));
  app.add_option("--initial-loss", o.initial_loss, "L_i(0): first-step, mean-of-first:K or given:v1,v2,...");
  app.add_option("--static-weights", run.weighting.static_weights, "weights of the 'static' method")
      ->delimiter(',')
      ->check(app::finite_positive());
  app.add_option("--train-size", data.train_size, "training set size")->check(app::int_in(1, kMaxSamples));
  app.add_option("--test-size", data.test_size, "held-out test set size")->check(app::int_in(1, kMaxSamples));
  app.add_option("--input-std", data.input_std, "std of the inputs x (default: unit std of the tanh argument)")
      ->check(app::finite_positive());
  app.add_option("--seed", o.seed, "seed for data, initial network and batch order")->check(app::unsigned_int());
  app.add_option("--threads", o.threads, "CPU threads")->check(app::int_in(1, 256));
  app.add_option("--device", o.device_spec, "auto, cpu or cuda");
  app.add_option("--out", o.out_dir, "output directory (default runs/toy_T<T>)");
  app.add_option("--log-every", run.log_every, "evaluate the test set every N steps")->check(app::int_in(1, kMaxSteps));
  app.add_option("--trace", run.trace, "print GradNorm's internals for the first K steps")
      ->check(app::int_in(0, kMaxSteps));
  app.add_option("--checkpoint-every", run.checkpoint_every,
                 "write <out>/<method>/checkpoints/ckpt-<step>.safetensors every N steps and after the last (0: never)")
      ->check(app::int_in(0, kMaxSteps));
  app.add_option("--keep-checkpoints", run.checkpoint_keep, "checkpoints kept per method (the latest)")
      ->check(app::int_in(1, 1000000));
  app.add_flag("--resume", o.resume,
               "continue each method from its latest checkpoint in --out (methods without one start afresh); the "
               "settings must be the run's");
  app.add_flag("--quiet", o.quiet, "no progress bar");
  app.add_option("--comm", o.comm,
                 "data-parallel communicator: auto (mpi under mpirun, else single), single or mpi; --batch stays the "
                 "global batch, each rank trains on its slice")
      ->check(CLI::IsMember({"auto", "single", "mpi"}));
  app.add_option("--bucket-mb", run.bucket_mb, "gradient all-reduce bucket size in MiB (data parallel)")
      ->check(app::finite_in(1e-6, 1024 * 1024));
  try {
    app.parse(argc, argv);
    app::refuse_empty_list_items(app, argc, argv);
  } catch (const CLI::ParseError& e) {
    return {std::nullopt, app.exit(e, out, err)};
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
  run.weighting.gradnorm.initial_loss = multitask::InitialLoss::parse(o.initial_loss);
  run.weighting.gradnorm.norm_weight_only = o.norm_params == "weight";
  for (const auto& m : methods) {  // every method's settings, before any training (gradnorm-static's weights
    multitask::WeightingConfig probe = run.weighting;  // come from the GradNorm run: any T positive values)
    if (m == "gradnorm-static") probe.static_weights.assign(static_cast<std::size_t>(tasks), 1.0);
    try {
      multitask::make_weighting(m, tasks, probe);
    } catch (const Error& e) {
      GN_FAIL("--methods {}: {}", m, e.what());
    }
  }
  o.device = parse_device(o.device_spec);  // throws for --device cuda without a GPU
  if (o.out_dir.empty()) o.out_dir = fmt::format("runs/toy_T{}", tasks);
  return {std::move(o), 0};
}

}  // namespace gn::toy
