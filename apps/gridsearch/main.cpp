// gradnorm-gridsearch: the paper's sweeps over any app that follows the sweep protocol (sweeps.h).
//   gradnorm-gridsearch grid  --out DIR --networks 100 --jobs 2 -- build/apps/toy/gradnorm-toy --tasks 3
//   gradnorm-gridsearch alpha --out DIR --alphas 0,0.5,1.5 -- build/apps/toy/gradnorm-toy --tasks 10
//   gradnorm-gridsearch seeds --out DIR --seeds 1,2,3,4,5 --methods equal,gradnorm -- build/apps/toy/gradnorm-toy
// Plots: python3 apps/gridsearch/plot_sweeps.py DIR
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "apps/common/cli_checks.h"
#include "apps/gridsearch/sweep_math.h"
#include "apps/gridsearch/sweeps.h"
#include "core/error.h"

namespace {

using namespace gn;

void add_common(CLI::App& cmd, sweep::SweepOptions& o) {
  cmd.add_option("--out", o.out, "the sweep's output directory")->required();
  cmd.add_option("--jobs", o.jobs, "runs at once (each a process; give the app --threads 1 to use one core each)")
      ->check(app::int_in(1, 1024));
  cmd.add_flag("--resume", o.resume, "continue the sweep in --out (same settings), skipping finished runs");
  cmd.add_option("command", o.command, "after --: the app and the arguments every run shares")->required();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "gradnorm-gridsearch: grid search vs GradNorm (paper Fig. 4), the alpha sweep (Fig. 5), multi-seed "
      "statistics"};
  cli.require_subcommand(1);
  sweep::GridOptions grid;
  sweep::AlphaOptions alpha;
  sweep::SeedsOptions seeds;
  std::string alphas_text, seeds_text, methods_text;

  auto* g = cli.add_subcommand("grid", "N networks with random static weights against one GradNorm network");
  add_common(*g, grid.sweep);
  g->add_option("--networks", grid.networks, "static networks to train")->check(app::int_in(2, 1000000));
  g->add_option("--seed", grid.seed, "seed of the random static weights")->check(app::unsigned_int());

  auto* a = cli.add_subcommand("alpha", "GradNorm at each alpha, and equal weighting as the baseline");
  add_common(*a, alpha.sweep);
  a->add_option("--alphas", alphas_text, "comma-separated alphas (default 0,0.06,0.12,0.25,0.5,1,1.5,2,3)");

  auto* s = cli.add_subcommand("seeds", "every method at every seed: mean, sd, paired wins");
  add_common(*s, seeds.sweep);
  s->add_option("--seeds", seeds_text, "comma-separated seeds (default 1,2,3,4,5)");
  s->add_option("--methods", methods_text, "comma-separated methods (default equal,gradnorm,uncertainty)");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  try {
    if (g->parsed()) return sweep::run_grid(grid);
    if (a->parsed()) {
      if (!alphas_text.empty()) alpha.alphas = sweep::parse_number_list(alphas_text, "--alphas");
      return sweep::run_alpha(alpha);
    }
    if (!seeds_text.empty()) {
      seeds.seeds.clear();
      for (double v : sweep::parse_number_list(seeds_text, "--seeds")) {
        GN_CHECK(v >= 0 && v == static_cast<double>(static_cast<std::uint64_t>(v)) && v < 9.007199254740992e15,
                 "--seeds: {} is not a non-negative integer", v);
        seeds.seeds.push_back(static_cast<std::uint64_t>(v));
      }
    }
    if (!methods_text.empty()) {
      seeds.methods.clear();
      std::size_t begin = 0;
      while (true) {
        const std::size_t end = methods_text.find(',', begin);
        seeds.methods.push_back(methods_text.substr(begin, end == std::string::npos ? end : end - begin));
        GN_CHECK(!seeds.methods.back().empty(), "--methods: an empty item in '{}'", methods_text);
        if (end == std::string::npos) break;
        begin = end + 1;
      }
    }
    return sweep::run_seeds(seeds);
  } catch (const gn::Error& e) {
    fmt::print(stderr, "gradnorm-gridsearch: {}\n", e.what());
    return 2;
  }
}
