#include "apps/gridsearch/sweeps.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "apps/common/writers.h"
#include "apps/gridsearch/child_runs.h"
#include "apps/gridsearch/sweep_math.h"
#include "core/error.h"

namespace gn::sweep {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

// What one finished run reported (OUT/<method>/summary.json).
struct RunResult {
  std::vector<double> errors, mean_weights, final_weights;
  double score = 0;
};

std::vector<double> numbers(const json& j, const char* key, const fs::path& file) {
  GN_CHECK(j.contains(key) && j[key].is_array(), "{}: no list '{}'", file.string(), key);
  std::vector<double> v;
  for (const auto& x : j[key]) {
    GN_CHECK(x.is_number() && std::isfinite(x.get<double>()), "{}: '{}' holds a value that is not a finite number",
             file.string(), key);
    v.push_back(x.get<double>());
  }
  return v;
}

// The run in `dir` trained `method` to the end: its run.json (written last) and a summary with status
// "finished". Anything else (absent, interrupted, diverged) is nullopt; `status` says which.
std::optional<RunResult> read_result(const fs::path& dir, const std::string& method, std::string* status = nullptr) {
  const fs::path file = dir / method / "summary.json";
  auto say = [&](std::string s) {
    if (status) *status = std::move(s);
    return std::nullopt;
  };
  if (!fs::exists(dir / "run.json") || !fs::exists(file)) return say("no finished output");
  std::ifstream in(file);
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    return say(fmt::format("unreadable {}: {}", file.string(), e.what()));
  }
  const std::string st = j.value("status", std::string("missing"));
  if (st != "finished") return say(st);
  RunResult r;
  r.errors = numbers(j, j.contains("task_errors") ? "task_errors" : "final_test_losses", file);
  r.mean_weights = numbers(j, "mean_weights", file);
  r.final_weights = numbers(j, "final_weights", file);
  const char* score_key = j.contains("score") ? "score" : "test_loss_ratio_sum";
  GN_CHECK(j.contains(score_key) && j[score_key].is_number(), "{}: no number '{}'", file.string(), score_key);
  r.score = j[score_key].get<double>();
  return r;
}

std::string join(const std::vector<double>& v) { return fmt::format("{:.17g}", fmt::join(v, ",")); }

// Checks the settings against an existing OUT/sweep.json (resume) or writes it (a fresh sweep).
// `growable`: integer settings a resume may raise (the grid's network count: network k's weights depend
// only on the seed and k, so the first networks of a larger sweep are the ones already trained).
void prepare_sweep(const SweepOptions& o, json settings, const std::vector<std::string>& growable = {}) {
  GN_CHECK(!o.command.empty(), "no app command given (put it after --, e.g. -- build/apps/toy/gradnorm-toy --tasks 3)");
  GN_CHECK(o.jobs >= 1, "--jobs must be >= 1, got {}", o.jobs);
  settings["command"] = o.command;
  const fs::path file = o.out / "sweep.json";
  if (fs::exists(file)) {
    GN_CHECK(o.resume, "{} already holds a sweep ({}): pass --resume to continue it, or choose another --out",
             o.out.string(), file.string());
    std::ifstream in(file);
    json old;
    try {
      old = json::parse(in);
    } catch (const std::exception& e) {
      GN_FAIL("cannot resume: {} is unreadable: {}", file.string(), e.what());
    }
    bool grown = false;
    for (const auto& [key, value] : settings.items()) {
      const bool can_grow = std::find(growable.begin(), growable.end(), key) != growable.end();
      if (can_grow && old.contains(key) && old[key].is_number_integer() && value.is_number_integer() &&
          value.get<std::int64_t>() > old[key].get<std::int64_t>()) {
        grown = true;
        continue;
      }
      GN_CHECK(old.contains(key) && old[key] == value,
               "cannot resume: the sweep in {} has {} = {}, this command asks for {}{}", o.out.string(), key,
               old.contains(key) ? old[key].dump() : "nothing", value.dump(),
               can_grow ? " (a resume can add to it, not take away)" : "");
    }
    if (grown) app::write_json(file, settings);  // the sweep is now the larger one
    return;
  }
  GN_CHECK(!o.resume, "cannot resume: {} holds no sweep (no sweep.json)", file.string());
  app::prepare_output_dir(o.out);
  app::write_json(file, settings);
}

// A child run: the shared command plus this run's arguments, logged to OUT/<name>/log.txt.
ChildRun child(const SweepOptions& o, const std::string& name, const fs::path& dir, std::vector<std::string> args) {
  fs::create_directories(dir);
  ChildRun r{name, o.command, dir / "log.txt"};
  r.argv.insert(r.argv.end(), {"--out", dir.string(), "--quiet"});
  r.argv.insert(r.argv.end(), args.begin(), args.end());
  return r;
}

// Runs what has not finished yet; prints one line per run. Returns the number of failed runs.
int execute(const SweepOptions& o, const std::vector<ChildRun>& runs) {
  if (runs.empty()) return 0;
  fmt::print("running {} runs, {} at a time\n", runs.size(), o.jobs);
  int failed = 0;
  run_children(runs, o.jobs, [&](const ChildOutcome& c, std::size_t done) {
    failed += !c.ok;
    fmt::print("[{}/{}] {}: {}\n", done, runs.size(), c.name, c.ok ? "finished" : c.why);
    std::fflush(stdout);
  });
  return failed;
}

}  // namespace

int run_grid(const GridOptions& o) {
  GN_CHECK(o.networks >= 2, "--networks must be >= 2 (a correlation needs two points), got {}", o.networks);
  prepare_sweep(o.sweep, {{"kind", "grid"}, {"networks", o.networks}, {"seed", o.seed}}, {"networks"});
  const fs::path ref_dir = o.sweep.out / "reference";
  if (!read_result(ref_dir, "gradnorm"))
    execute(o.sweep, {child(o.sweep, "gradnorm (reference)", ref_dir, {"--methods", "gradnorm"})});
  std::string status;
  const auto ref = read_result(ref_dir, "gradnorm", &status);
  GN_CHECK(ref.has_value(), "the GradNorm reference run did not finish ({}); see {}", status,
           (ref_dir / "log.txt").string());
  const int T = static_cast<int>(ref->mean_weights.size());

  std::vector<ChildRun> pending;
  auto run_dir = [&](std::int64_t k) { return o.sweep.out / "runs" / fmt::format("{:04d}", k); };
  for (std::int64_t k = 0; k < o.networks; ++k)
    if (!read_result(run_dir(k), "static"))
      pending.push_back(child(o.sweep, fmt::format("network {}", k), run_dir(k),
                              {"--methods", "static", "--static-weights", join(random_static_weights(T, o.seed, k))}));
  const int failed = execute(o.sweep, pending);

  std::string csv = "network,distance,change_pct";
  for (int i = 0; i < T; ++i) csv += fmt::format(",w_{}", i);
  for (int i = 0; i < T; ++i) csv += fmt::format(",error_{}", i);
  csv += "\n";
  std::vector<double> distances, changes;
  for (std::int64_t k = 0; k < o.networks; ++k) {
    const auto r = read_result(run_dir(k), "static");
    if (!r) continue;
    const auto w = random_static_weights(T, o.seed, k);
    distances.push_back(l2_distance(w, ref->mean_weights));
    changes.push_back(mean_relative_change_pct(r->errors, ref->errors));
    csv += fmt::format("{},{:.9g},{:.9g},{},{}\n", k, distances.back(), changes.back(), fmt::join(w, ","),
                       fmt::join(r->errors, ","));
  }
  app::write_atomically(o.sweep.out / "gridsearch.csv", csv);
  json s;
  s["kind"] = "grid";
  s["networks"] = o.networks;
  s["finished"] = distances.size();
  s["failed"] = failed;
  s["gradnorm_mean_weights"] = ref->mean_weights;
  s["gradnorm_errors"] = ref->errors;
  if (!changes.empty()) {
    s["best_change_pct"] = *std::min_element(changes.begin(), changes.end());
    s["networks_better_than_gradnorm"] = std::count_if(changes.begin(), changes.end(), [](double c) { return c < 0; });
  }
  const bool correlates =
      distances.size() >= 2 &&
      std::adjacent_find(distances.begin(), distances.end(), std::not_equal_to<>()) != distances.end() &&
      std::adjacent_find(changes.begin(), changes.end(), std::not_equal_to<>()) != changes.end();
  if (correlates) s["pearson_distance_change"] = pearson(distances, changes);
  app::write_json(o.sweep.out / "summary.json", s);
  fmt::print("grid search: {} of {} networks finished; GradNorm E[w] = [{:.3f}]\n", distances.size(), o.networks,
             fmt::join(ref->mean_weights, ", "));
  if (!changes.empty())
    fmt::print("best static network: {:+.2f}% against GradNorm; {} of {} better than GradNorm\n",
               s["best_change_pct"].get<double>(), s["networks_better_than_gradnorm"].get<std::int64_t>(),
               changes.size());
  if (correlates)
    fmt::print("correlation of distance and change: {:.3f}\n", s["pearson_distance_change"].get<double>());
  return failed > 0 ? 1 : 0;
}

int run_alpha(const AlphaOptions& o) {
  GN_CHECK(!o.alphas.empty(), "--alphas: no value given");
  for (double a : o.alphas) GN_CHECK(a >= 0 && std::isfinite(a), "--alphas: {} is not a finite alpha >= 0", a);
  prepare_sweep(o.sweep, {{"kind", "alpha"}, {"alphas", o.alphas}});
  auto alpha_dir = [&](double a) { return o.sweep.out / fmt::format("alpha_{}", a); };
  const fs::path equal_dir = o.sweep.out / "equal";
  std::vector<ChildRun> pending;
  if (!read_result(equal_dir, "equal"))
    pending.push_back(child(o.sweep, "equal weighting", equal_dir, {"--methods", "equal"}));
  for (double a : o.alphas)
    if (!read_result(alpha_dir(a), "gradnorm"))
      pending.push_back(child(o.sweep, fmt::format("alpha {}", a), alpha_dir(a),
                              {"--methods", "gradnorm", "--alpha", fmt::format("{:.17g}", a)}));
  const int failed = execute(o.sweep, pending);

  std::string status;
  const auto equal = read_result(equal_dir, "equal", &status);
  GN_CHECK(equal.has_value(), "the equal-weighting baseline did not finish ({}); see {}", status,
           (equal_dir / "log.txt").string());
  const std::size_t T = equal->errors.size();
  std::string csv = "alpha,score,change_vs_equal_pct";
  for (const char* col : {"error", "mean_w", "final_w"})
    for (std::size_t i = 0; i < T; ++i) csv += fmt::format(",{}_{}", col, i);
  csv += "\n";
  fmt::print("{:>8} {:>12} {:>16}   mean weights\n", "alpha", "score", "vs equal (%)");
  fmt::print("{:>8} {:>12.5g} {:>16}\n", "equal", equal->score, "");
  for (double a : o.alphas) {
    const auto r = read_result(alpha_dir(a), "gradnorm");
    if (!r) continue;
    const double change = mean_relative_change_pct(r->errors, equal->errors);
    csv += fmt::format("{},{:.9g},{:.9g},{},{},{}\n", a, r->score, change, fmt::join(r->errors, ","),
                       fmt::join(r->mean_weights, ","), fmt::join(r->final_weights, ","));
    fmt::print("{:>8} {:>12.5g} {:>+16.2f}   [{:.3f}]\n", a, r->score, change, fmt::join(r->mean_weights, ", "));
  }
  app::write_atomically(o.sweep.out / "alpha.csv", csv);
  return failed > 0 ? 1 : 0;
}

int run_seeds(const SeedsOptions& o) {
  GN_CHECK(!o.seeds.empty() && !o.methods.empty(), "seeds: give at least one seed and one method");
  prepare_sweep(o.sweep, {{"kind", "seeds"}, {"seeds", o.seeds}, {"methods", o.methods}});
  auto seed_dir = [&](std::uint64_t s) { return o.sweep.out / fmt::format("seed_{}", s); };
  std::vector<ChildRun> pending;
  for (std::uint64_t s : o.seeds) {
    const bool done = std::all_of(o.methods.begin(), o.methods.end(),
                                  [&](const std::string& m) { return read_result(seed_dir(s), m).has_value(); });
    if (!done)
      pending.push_back(
          child(o.sweep, fmt::format("seed {}", s), seed_dir(s),
                {"--seed", std::to_string(s), "--methods", fmt::format("{}", fmt::join(o.methods, ","))}));
  }
  const int failed = execute(o.sweep, pending);

  // scores[m][k]: method m at the k-th seed whose every method finished (paired comparisons need all).
  std::vector<std::vector<double>> scores(o.methods.size());
  std::string csv = "seed,method,score\n";
  std::size_t complete = 0;
  for (std::uint64_t s : o.seeds) {
    std::vector<std::optional<RunResult>> rs;
    for (const auto& m : o.methods) rs.push_back(read_result(seed_dir(s), m));
    if (!std::all_of(rs.begin(), rs.end(), [](const auto& r) { return r.has_value(); })) continue;
    ++complete;
    for (std::size_t m = 0; m < rs.size(); ++m) {
      scores[m].push_back(rs[m]->score);
      csv += fmt::format("{},{},{:.9g}\n", s, o.methods[m], rs[m]->score);
    }
  }
  app::write_atomically(o.sweep.out / "seeds.csv", csv);
  GN_CHECK(complete > 0, "seeds: no seed finished every method; see the logs under {}", o.sweep.out.string());
  json summary;
  summary["kind"] = "seeds";
  summary["seeds_complete"] = complete;
  summary["failed_runs"] = failed;
  std::string md = fmt::format("| method | score mean | sd | n |\n|---|---|---|---|\n");
  for (std::size_t m = 0; m < o.methods.size(); ++m) {
    const MeanSd ms = mean_sd(scores[m]);
    summary["methods"][o.methods[m]] = {{"mean", ms.mean}, {"sd", ms.sd}, {"scores", scores[m]}};
    md += fmt::format("| {} | {:.4f} | {:.4f} | {} |\n", o.methods[m], ms.mean, ms.sd, complete);
  }
  // wins[a][b]: seeds at which a scored lower (better) than b.
  md += "\npaired wins (row beats column, lower score is better):\n\n|  |";
  for (const auto& m : o.methods) md += fmt::format(" {} |", m);
  md += "\n|---|";
  for (std::size_t m = 0; m < o.methods.size(); ++m) md += "---|";
  md += "\n";
  for (std::size_t a = 0; a < o.methods.size(); ++a) {
    md += fmt::format("| {} |", o.methods[a]);
    for (std::size_t b = 0; b < o.methods.size(); ++b) {
      std::int64_t wins = 0;
      for (std::size_t k = 0; k < complete; ++k) wins += scores[a][k] < scores[b][k];
      if (a != b) summary["paired_wins"][o.methods[a]][o.methods[b]] = wins;
      md += a == b ? " - |" : fmt::format(" {}/{} |", wins, complete);
    }
    md += "\n";
  }
  app::write_json(o.sweep.out / "summary.json", summary);
  app::write_atomically(o.sweep.out / "seeds.md", md);
  fmt::print("{}", md);
  return failed > 0 ? 1 : 0;
}

}  // namespace gn::sweep
