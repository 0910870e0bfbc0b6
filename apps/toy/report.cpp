#include "apps/toy/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace gn::toy {
namespace {

namespace fs = std::filesystem;

void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp);
    GN_CHECK(f.good(), "cannot write {}", tmp.string());
    f << text;
    f.close();
    GN_CHECK(f.good(), "error while writing {}", tmp.string());
  }
  fs::rename(tmp, path);
}

std::string csv_numbers(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += fmt::format(",{:.9g}", x);
  return out;
}

}  // namespace

void write_outputs(const std::string& dir, const RunInfo& info, const std::vector<ToyRunResult>& results) {
  fs::create_directories(dir);
  const int T = info.tasks;
  std::string csv = "method,step,test_loss_ratio_sum";
  for (const char* col : {"w", "train_loss", "test_loss", "grad_norm"})
    for (int i = 0; i < T; ++i) csv += fmt::format(",{}_{}", col, i);
  csv += "\n";
  for (const auto& r : results)
    for (const auto& row : r.rows)
      csv +=
          fmt::format("{},{},{:.9g}{}{}{}{}\n", r.method, row.step, row.test_loss_ratio_sum, csv_numbers(row.weights),
                      csv_numbers(row.train_losses), csv_numbers(row.test_losses), csv_numbers(row.grad_norms));
  write_atomically(fs::path(dir) / "metrics.csv", csv);

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
    write_atomically(fs::path(dir) / r.method / "summary.json", j.dump(2) + "\n");
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
