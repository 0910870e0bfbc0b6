// A toy method that diverges is reported, not thrown: its rows from before the divergence are kept (no
// non-finite number), the other methods still run, and the outputs mark it in summary.json.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/toy/experiment.h"
#include "apps/toy/report.h"

namespace gn::toy {
namespace {

namespace fs = std::filesystem;

ToyData small_data() {
  ToyDataConfig data;
  data.sigmas = {1.0, 100.0};
  data.train_size = 200;
  data.test_size = 50;
  return make_toy_data(data);
}

ToyRunConfig small_run() {
  ToyRunConfig run;
  run.steps = 100;
  run.batch = 50;
  run.log_every = 10;
  run.hidden = 16;
  run.weighting.gradnorm.alpha = 0.12;
  return run;
}

void expect_clean_rows(const ToyRunResult& r) {
  for (const MetricRow& row : r.rows) {
    EXPECT_LE(row.step, r.diverged_step) << r.method;
    EXPECT_TRUE(std::isfinite(row.test_loss_ratio_sum)) << r.method;
    for (double v : row.weights) EXPECT_TRUE(std::isfinite(v)) << r.method;
    for (double v : row.test_losses) EXPECT_TRUE(std::isfinite(v)) << r.method;
  }
}

TEST(ToyDivergence, EveryMethodStopsUnderAHugeLearningRate) {
  const ToyData d = small_data();
  for (const char* method : {"equal", "uncertainty", "gradnorm"}) {
    ToyRunConfig run = small_run();
    run.lr = 1e6;
    run.method = method;
    const ToyRunResult r = run_toy(d, run);
    EXPECT_EQ(r.failed.rfind("training diverged at step ", 0), 0u) << method << ": '" << r.failed << "'";
    EXPECT_NE(r.failed.find("task "), std::string::npos) << r.failed;
    EXPECT_GE(r.diverged_step, 0) << method;
    EXPECT_TRUE(r.final_weights.empty()) << method;
    expect_clean_rows(r);
  }
}

TEST(ToyDivergence, OtherMethodsResultsAreKeptAndWritten) {
  const ToyData d = small_data();
  ToyRunConfig run = small_run();
  run.weighting.static_weights = {1.0, 1e300};  // inf as the float32 weight the loss kernel reads
  const std::vector<ToyRunResult> results = run_methods(d, run, {"static", "equal", "gradnorm", "gradnorm-static"});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].failed, "training diverged at step 0: task 1 ('task1') weight w_1 (after the update) is inf");
  EXPECT_EQ(results[0].diverged_step, 0);
  expect_clean_rows(results[0]);
  for (std::size_t k = 1; k < results.size(); ++k) {
    EXPECT_TRUE(results[k].failed.empty()) << results[k].method << ": " << results[k].failed;
    EXPECT_EQ(results[k].final_weights.size(), 2u);
    EXPECT_TRUE(std::isfinite(results[k].test_loss_ratio_sum));
  }

  const fs::path dir = fs::temp_directory_path() / "gn_toy_divergence_test";
  fs::remove_all(dir);
  const RunInfo info{2, {1.0, 100.0}, 0.12, run.steps, 1, "cpu", 1};
  write_outputs(dir.string(), info, results);
  auto read = [](const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  const std::string diverged = read(dir / "static" / "summary.json");
  const auto j = nlohmann::json::parse(diverged);
  EXPECT_EQ(j["status"], results[0].failed);
  EXPECT_EQ(j["diverged_step"], 0);
  EXPECT_FALSE(j.contains("final_weights"));
  EXPECT_EQ(diverged.find("null"), std::string::npos) << diverged;
  EXPECT_EQ(nlohmann::json::parse(read(dir / "equal" / "summary.json"))["status"], "finished");
  const std::string csv = read(dir / "metrics.csv");
  EXPECT_EQ(csv.find("inf"), std::string::npos);
  EXPECT_EQ(csv.find("\nstatic,10,"), std::string::npos) << "no row of the diverged method after its divergence";
  EXPECT_NE(csv.find("\nequal,100,"), std::string::npos);
  EXPECT_NE(result_table(info, results).find("static           training diverged at step 0"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gn::toy
