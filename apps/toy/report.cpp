#include "apps/toy/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "apps/common/writers.h"
#include "core/error.h"

namespace gn::toy {

namespace fs = std::filesystem;

const std::vector<std::string>& output_names() {
  static const std::vector<std::string> names{"run.json", "metrics.csv", "*/summary.json", "figure2.png"};
  return names;
}

std::string write_outputs(const std::string& dir, const RunInfo& info, const std::vector<ToyRunResult>& results,
                          std::string run_id) {
  if (run_id.empty()) run_id = app::make_run_id();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) GN_FAIL("cannot create the output directory {}: {}", dir, ec.message());
  app::remove_outputs(dir, output_names());
  app::OutputSet out(dir, run_id);
  std::vector<std::string> columns{"method", "step", "test_loss_ratio_sum"};
  for (const char* col : {"w", "train_loss", "test_loss", "grad_norm"})
    for (auto& name : app::task_columns(col, info.tasks)) columns.push_back(std::move(name));
  columns.emplace_back("floor_hits");  // GradNorm's weight-floor hits so far; nan for other methods
  app::MetricsCsv csv(columns);
  for (const auto& r : results)
    for (const auto& row : r.rows)
      csv.add_row(r.method, row.step,
                  {{&row.test_loss_ratio_sum, 1},
                   row.weights,
                   row.train_losses,
                   row.test_losses,
                   row.grad_norms,
                   {&row.floor_hits, 1}});
  out.write("metrics.csv", csv.text());

  for (const auto& r : results) {
    nlohmann::ordered_json j;
    j["run_id"] = run_id;
    j["method"] = r.method;
    j["tasks"] = info.tasks;
    j["sigmas"] = info.sigmas;
    j["alpha"] = info.alpha;
    j["steps"] = info.steps;
    j["seed"] = info.seed;
    j["device"] = info.device;
    j["threads"] = info.threads;
    j["world_size"] = info.world_size;
    if (r.method == "gradnorm") {
      j["weight_param"] = info.weight_param;
      j["norm_params"] = info.norm_params;
    }
    j["status"] = r.failed.empty() ? std::string("finished") : r.failed;
    if (r.floor_hits >= 0) j["floor_hits"] = r.floor_hits;  // updates x tasks where the weight floor fired
    if (r.failed.empty()) {
      j["final_weights"] = r.final_weights;
      j["mean_weights"] = r.mean_weights;
      j["initial_test_losses"] = r.initial_test_losses;
      j["final_test_losses"] = r.final_test_losses;
      j["test_loss_ratio_sum"] = r.test_loss_ratio_sum;
      j["step_ms_median"] = r.step_ms_median;
      if (info.world_size > 1) {
        j["comm_ms_median"] = r.comm_ms_median;          // the step's collectives, per step
        j["replicas_identical"] = r.replicas_identical;  // every rank's final parameters and weights: rank 0's bits
      }
    } else {  // numbers only where they are finite: no NaN (JSON null) for a diverged run
      if (r.diverged_step >= 0) j["diverged_step"] = r.diverged_step;
      if (!r.initial_test_losses.empty() &&
          std::ranges::all_of(r.initial_test_losses, [](double v) { return std::isfinite(v); }))
        j["initial_test_losses"] = r.initial_test_losses;
    }
    fs::create_directories(fs::path(dir) / r.method, ec);
    if (ec) GN_FAIL("cannot create {}: {}", (fs::path(dir) / r.method).string(), ec.message());
    out.write_json(fs::path(r.method) / "summary.json", j);
  }
  out.finish();
  return run_id;
}

std::string result_table(const RunInfo& info, const std::vector<ToyRunResult>& results) {
  std::string out = fmt::format("T = {}, sigmas = {}, alpha = {}, weight param {}, {} steps\n", info.tasks, info.sigmas,
                                info.alpha, info.weight_param, info.steps);
  out += fmt::format("{:<16} {:>14} {:>10}  {}\n", "method", "test ratio sum", "step ms", "final w (mean w)");
  for (const auto& r : results)
    if (!r.failed.empty())
      out += fmt::format("{:<16} {}\n", r.method, r.failed);
    else
      out += fmt::format("{:<16} {:>14.4f} {:>10.3f}  {::.3f} ({::.3f}){}\n", r.method, r.test_loss_ratio_sum,
                         r.step_ms_median, r.final_weights, r.mean_weights,
                         r.floor_hits >= 0 ? fmt::format("  floor hits {}", r.floor_hits) : std::string());
  return out;
}

}  // namespace gn::toy
