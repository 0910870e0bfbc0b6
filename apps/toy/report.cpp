#include "apps/toy/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "apps/common/writers.h"

namespace gn::toy {

namespace fs = std::filesystem;

void write_outputs(const std::string& dir, const RunInfo& info, const std::vector<ToyRunResult>& results) {
  fs::create_directories(dir);
  std::vector<std::string> columns{"method", "step", "test_loss_ratio_sum"};
  for (const char* col : {"w", "train_loss", "test_loss", "grad_norm"})
    for (auto& name : app::task_columns(col, info.tasks)) columns.push_back(std::move(name));
  app::MetricsCsv csv(columns);
  for (const auto& r : results)
    for (const auto& row : r.rows)
      csv.add_row(r.method, row.step,
                  {{&row.test_loss_ratio_sum, 1}, row.weights, row.train_losses, row.test_losses, row.grad_norms});
  csv.write(fs::path(dir) / "metrics.csv");

  for (const auto& r : results) {
    nlohmann::ordered_json j;
    j["method"] = r.method;
    j["tasks"] = info.tasks;
    j["sigmas"] = info.sigmas;
    j["alpha"] = info.alpha;
    j["steps"] = info.steps;
    j["seed"] = info.seed;
    j["device"] = info.device;
    j["threads"] = info.threads;
    j["final_weights"] = r.final_weights;
    j["mean_weights"] = r.mean_weights;
    j["initial_test_losses"] = r.initial_test_losses;
    j["final_test_losses"] = r.final_test_losses;
    j["test_loss_ratio_sum"] = r.test_loss_ratio_sum;
    j["step_ms_median"] = r.step_ms_median;
    fs::create_directories(fs::path(dir) / r.method);
    app::write_json(fs::path(dir) / r.method / "summary.json", j);
  }
}

std::string result_table(const RunInfo& info, const std::vector<ToyRunResult>& results) {
  std::string out =
      fmt::format("T = {}, sigmas = {}, alpha = {}, {} steps\n", info.tasks, info.sigmas, info.alpha, info.steps);
  out += fmt::format("{:<16} {:>14} {:>10}  {}\n", "method", "test ratio sum", "step ms", "final w (mean w)");
  for (const auto& r : results)
    out += fmt::format("{:<16} {:>14.4f} {:>10.3f}  {::.3f} ({::.3f})\n", r.method, r.test_loss_ratio_sum,
                       r.step_ms_median, r.final_weights, r.mean_weights);
  return out;
}

}  // namespace gn::toy
