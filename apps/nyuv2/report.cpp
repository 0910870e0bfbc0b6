#include "apps/nyuv2/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace gn::nyuv2 {

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> summaries_of(const fs::path& run) {
  if (fs::is_regular_file(run)) return {run};
  if (fs::is_regular_file(run / "summary.json")) return {run / "summary.json"};
  std::vector<fs::path> found;
  if (fs::is_directory(run))
    for (const auto& e : fs::directory_iterator(run))
      if (e.is_directory() && fs::is_regular_file(e.path() / "summary.json"))
        found.push_back(e.path() / "summary.json");
  std::ranges::sort(found);
  GN_CHECK(!found.empty(), "report: {} holds no summary.json (nor <method>/summary.json)", run.string());
  return found;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  GN_CHECK(in.good(), "report: cannot open {}", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    GN_FAIL("report: {} is not valid JSON: {}", path.string(), e.what());
  }
}

std::string cell(const nlohmann::json& metrics, const std::string& key, double scale = 1, int digits = 4) {
  if (!metrics.is_object() || !metrics.contains(key) || !metrics[key].is_number()) return "-";
  return fmt::format("{:.{}f}", metrics[key].get<double>() * scale, digits);
}

}  // namespace

std::string report_table(const std::vector<fs::path>& runs) {
  std::ostringstream s;
  s << "| run | method | tasks | depth RMS | seg 100-IoU | normals 1-\\|cos\\| | kpt err % | mIoU | pixel acc | "
       "depth abs err | depth rel err | normal mean deg | normal median deg | score | status |\n";
  s << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const fs::path& run : runs)
    for (const fs::path& file : summaries_of(run)) {
      const nlohmann::json j = read_json(file);
      const nlohmann::json m = j.value("metrics", nlohmann::json::object());
      std::string tasks;
      if (j.contains("tasks") && j["tasks"].is_array())
        for (const auto& t : j["tasks"]) {
          if (!tasks.empty()) tasks += ',';
          tasks += t.get<std::string>();
        }
      const std::string score = j.contains("score") && j["score"].is_number()
                                    ? fmt::format("{:.4f}", j["score"].get<double>())
                                    : std::string("-");
      std::string status = j.value("status", std::string("?"));
      std::ranges::replace(status, '|', '/');
      s << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                       file.parent_path().string(), j.value("method", std::string("?")), tasks, cell(m, "depth_rmse"),
                       cell(m, "seg_100_minus_iou", 1, 2), cell(m, "normal_one_minus_abs_cos"),
                       cell(m, "keypoint_error_pct", 1, 2), cell(m, "seg_miou"), cell(m, "seg_pixel_acc"),
                       cell(m, "depth_abs_err"), cell(m, "depth_rel_err"), cell(m, "normal_mean_deg", 1, 2),
                       cell(m, "normal_median_deg", 1, 2), score, status);
    }
  return s.str();
}

}  // namespace gn::nyuv2
