// Output sets do not mix: every file of a run carries (or is listed under) one run id, run.json is written
// last, an earlier run's files are removed first (and nothing else), failures name the system's reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "apps/common/writers.h"
#include "apps/toy/report.h"
#include "tests/apps/scratch_files.h"

namespace gn::toy {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) { return test_files::scratch_dir("output_set", name); }

using test_files::slurp;

ToyRunResult fake_result(const std::string& method, double w0) {
  ToyRunResult r;
  r.method = method;
  r.rows.push_back({0, 2.0, {1, 1}, {NAN, NAN}, {1, 2}, {NAN, NAN}});
  r.rows.push_back({10, 1.5, {w0, 2 - w0}, {0.5, 0.7}, {0.6, 1.2}, {NAN, NAN}});
  r.initial_test_losses = {1, 2};
  r.final_weights = r.mean_weights = {w0, 2 - w0};
  r.final_test_losses = {0.6, 1.2};
  r.test_loss_ratio_sum = 1.5;
  return r;
}

const RunInfo kInfo{2, {1.0, 100.0}, 0.12, 10, 1, "cpu", 1};

// run.json lists exactly the set's files with their sizes and checksums; every summary has its run id.
void expect_consistent(const fs::path& dir, const std::string& run_id, const std::vector<std::string>& files) {
  const auto manifest = nlohmann::json::parse(slurp(dir / "run.json"));
  EXPECT_EQ(manifest["run_id"], run_id);
  std::vector<std::string> listed;
  for (const auto& f : manifest["files"]) {
    const std::string text = slurp(dir / f["path"].get<std::string>());
    EXPECT_EQ(f["bytes"].get<std::size_t>(), text.size()) << f["path"];
    EXPECT_EQ(f["fnv1a64"], app::fnv1a64_hex(text)) << f["path"];
    listed.push_back(f["path"]);
    if (listed.back().ends_with("summary.json")) {
      EXPECT_EQ(nlohmann::json::parse(text)["run_id"], run_id);
    }
  }
  EXPECT_EQ(listed, files);
}

TEST(OutputSet, RunIdHasTimeAndRandomPart) {
  const std::string a = app::make_run_id(), b = app::make_run_id();
  EXPECT_TRUE(std::regex_match(a, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ-[0-9a-f]{16})"))) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(app::fnv1a64_hex(""), "cbf29ce484222325");
  EXPECT_EQ(app::fnv1a64_hex("a"), "af63dc4c8601ec8c");
}

TEST(OutputSet, ASecondRunReplacesTheWholeSetAndNothingElse) {
  const fs::path dir = scratch("replace");
  const std::string first =
      write_outputs(dir.string(), kInfo, {fake_result("equal", 1), fake_result("uncertainty", 0.8)});
  expect_consistent(dir, first, {"metrics.csv", "equal/summary.json", "uncertainty/summary.json"});
  // Things the app does not write stay: notes, checkpoints, other json files, an unrelated folder.
  std::ofstream(dir / "notes.txt") << "keep";
  std::ofstream(dir / "figure2.png") << "old figure";
  std::ofstream(dir / "metrics.csv.tmp") << "half";
  fs::create_directories(dir / "uncertainty" / "checkpoints");
  std::ofstream(dir / "uncertainty" / "checkpoints" / "ckpt-10.safetensors") << "ckpt";
  std::ofstream(dir / "uncertainty" / "other.json") << "{}";

  const std::string second = write_outputs(dir.string(), kInfo, {fake_result("gradnorm", 1.2)});
  EXPECT_NE(first, second);
  expect_consistent(dir, second, {"metrics.csv", "gradnorm/summary.json"});
  EXPECT_FALSE(fs::exists(dir / "equal" / "summary.json")) << "a stale summary of the earlier run";
  EXPECT_FALSE(fs::exists(dir / "uncertainty" / "summary.json"));
  EXPECT_FALSE(fs::exists(dir / "figure2.png")) << "the earlier run's figure";
  EXPECT_FALSE(fs::exists(dir / "metrics.csv.tmp"));
  EXPECT_EQ(slurp(dir / "notes.txt"), "keep");
  EXPECT_TRUE(fs::exists(dir / "uncertainty" / "checkpoints" / "ckpt-10.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "uncertainty" / "other.json"));
  EXPECT_EQ(slurp(dir / "metrics.csv").find("equal,"), std::string::npos);
  fs::remove_all(dir);
}

// GradNorm's summary records its weight parameterisation and the floor hits; metrics.csv has the running
// count (nan for methods without a floor).
TEST(OutputSet, GradNormSummaryHasWeightParamAndFloorHits) {
  const fs::path dir = scratch("floor");
  ToyRunResult gn = fake_result("gradnorm", 1.5), eq = fake_result("equal", 1);
  gn.floor_hits = 5;
  gn.rows[1].floor_hits = 5;
  RunInfo info = kInfo;
  info.weight_param = "softmax";
  write_outputs(dir.string(), info, {eq, gn});
  const auto summary = nlohmann::json::parse(slurp(dir / "gradnorm" / "summary.json"));
  EXPECT_EQ(summary["weight_param"], "softmax");
  EXPECT_EQ(summary["floor_hits"], 5);
  const auto equal = nlohmann::json::parse(slurp(dir / "equal" / "summary.json"));
  EXPECT_FALSE(equal.contains("floor_hits"));
  EXPECT_FALSE(equal.contains("weight_param"));
  const std::string csv = slurp(dir / "metrics.csv");
  EXPECT_NE(csv.find(",floor_hits\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("gradnorm,10,"), std::string::npos);
  EXPECT_NE(csv.find(",5\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("equal,10,"), std::string::npos);
  EXPECT_NE(result_table(info, {gn}).find("floor hits 5"), std::string::npos);
  fs::remove_all(dir);
}

TEST(OutputSet, AnInterruptedSetHasNoManifest) {
  // Killed after the earlier run's files were removed and part of the new set written: no run.json, so a
  // reader (plot_figure2.py) refuses the folder instead of mixing two runs.
  const fs::path dir = scratch("interrupted");
  write_outputs(dir.string(), kInfo, {fake_result("equal", 1)});
  app::remove_outputs(dir, output_names());
  app::OutputSet set(dir, app::make_run_id());
  set.write("metrics.csv", "method,step\n");
  EXPECT_FALSE(fs::exists(dir / "run.json"));
  EXPECT_FALSE(fs::exists(dir / "equal" / "summary.json"));
  set.finish();
  expect_consistent(dir, set.run_id(), {"metrics.csv"});
  fs::remove_all(dir);
}

TEST(OutputSet, FailureNamesTheReasonAndLeavesNoTemporaryFile) {
  const fs::path dir = scratch("failure");
  app::OutputSet set(dir, "id");
  try {
    set.write("missing-folder/summary.json", "{}");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing-folder/summary.json"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gn::toy
