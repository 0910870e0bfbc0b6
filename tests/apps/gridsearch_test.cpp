// The sweeps' arithmetic (checked by hand) and the child-process runner. The sweeps end to end, with the
// toy app as the child, are tests/apps/gridsearch_e2e.sh (ctest apps.gridsearch_e2e).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "apps/gridsearch/child_runs.h"
#include "apps/gridsearch/sweep_math.h"
#include "core/error.h"
#include "tests/apps/scratch_files.h"

namespace gn {
namespace {

namespace fs = std::filesystem;

TEST(SweepMath, RandomStaticWeightsSumToTAndDependOnSeedAndNetworkOnly) {
  for (int T : {1, 2, 3, 10}) {
    const auto w = sweep::random_static_weights(T, 7, 4);
    ASSERT_EQ(w.size(), static_cast<std::size_t>(T));
    EXPECT_NEAR(std::accumulate(w.begin(), w.end(), 0.0), T, 1e-12);
    for (double v : w) EXPECT_GT(v, 0);
    EXPECT_EQ(w, sweep::random_static_weights(T, 7, 4)) << "the same (seed, k) must give the same weights";
  }
  std::set<std::vector<double>> seen;
  for (std::uint64_t seed : {1, 2})
    for (std::int64_t k = 0; k < 50; ++k) seen.insert(sweep::random_static_weights(3, seed, k));
  EXPECT_EQ(seen.size(), 100u) << "every (seed, network) pair draws its own weights";
}

TEST(SweepMath, RandomStaticWeightsAreSpreadOverTheSimplex) {
  // Uniform draws renormalised: each weight's mean is 1 (by symmetry), and some networks put most weight
  // on one task (the grid search must explore far from equal weights).
  double mean0 = 0, largest = 0;
  constexpr int kN = 2000;
  for (int k = 0; k < kN; ++k) {
    const auto w = sweep::random_static_weights(3, 11, k);
    mean0 += w[0] / kN;
    largest = std::max(largest, *std::max_element(w.begin(), w.end()));
  }
  EXPECT_NEAR(mean0, 1.0, 0.03);
  EXPECT_GT(largest, 2.5);
}

TEST(SweepMath, DistanceChangeCorrelationByHand) {
  const std::vector<double> a{1, 2, 0}, b{0, 0, 0};
  EXPECT_DOUBLE_EQ(sweep::l2_distance(a, b), std::sqrt(5.0));
  // (2 - 1)/1 = +1, (1 - 2)/2 = -0.5: mean 0.25 -> +25%.
  EXPECT_DOUBLE_EQ(sweep::mean_relative_change_pct(std::vector<double>{2, 1}, std::vector<double>{1, 2}), 25.0);
  EXPECT_DOUBLE_EQ(sweep::pearson(std::vector<double>{1, 2, 3}, std::vector<double>{2, 4, 6}), 1.0);
  EXPECT_DOUBLE_EQ(sweep::pearson(std::vector<double>{1, 2, 3}, std::vector<double>{3, 2, 1}), -1.0);
  // x = 1, 2, 3, 4; y = 1, 3, 2, 4: sxy = 4, sxx = syy = 5 -> 0.8.
  EXPECT_NEAR(sweep::pearson(std::vector<double>{1, 2, 3, 4}, std::vector<double>{1, 3, 2, 4}), 0.8, 1e-15);
  const auto ms = sweep::mean_sd(std::vector<double>{1, 2, 3, 4});  // mean 2.5, var (2.25+0.25)*2/3 = 5/3
  EXPECT_DOUBLE_EQ(ms.mean, 2.5);
  EXPECT_NEAR(ms.sd, std::sqrt(5.0 / 3.0), 1e-15);
}

TEST(SweepMath, RefusesWhatHasNoAnswer) {
  EXPECT_THROW(sweep::l2_distance(std::vector<double>{1}, std::vector<double>{1, 2}), Error);
  EXPECT_THROW(sweep::mean_relative_change_pct(std::vector<double>{1}, std::vector<double>{0}), Error);
  EXPECT_THROW(sweep::pearson(std::vector<double>{1, 1, 1}, std::vector<double>{1, 2, 3}), Error);
  EXPECT_THROW(sweep::pearson(std::vector<double>{1}, std::vector<double>{1}), Error);
  EXPECT_EQ(sweep::parse_number_list("0,0.06,1e-1", "--alphas"), (std::vector<double>{0, 0.06, 0.1}));
  for (const char* bad : {"", "1,,2", "1,", "abc", "1,nan", "2x"})
    EXPECT_THROW(sweep::parse_number_list(bad, "--alphas"), Error) << bad;
}

using test_files::slurp;

TEST(ChildRuns, ReportsEachOutcomeAndLogsOutput) {
  const fs::path dir = fs::temp_directory_path() / "gn_child_runs_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<sweep::ChildRun> runs{
      {"ok", {"sh", "-c", "echo hello; echo oops >&2"}, dir / "ok.log"},
      {"fails", {"sh", "-c", "exit 3"}, dir / "fails.log"},
      {"killed", {"sh", "-c", "kill -9 $$"}, dir / "killed.log"},
      {"missing", {"/nonexistent/gradnorm-app"}, dir / "missing.log"},
  };
  std::size_t calls = 0;
  const auto out =
      sweep::run_children(runs, 2, [&](const sweep::ChildOutcome&, std::size_t done) { EXPECT_EQ(done, ++calls); });
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(calls, 4u);
  EXPECT_TRUE(out[0].ok) << out[0].why;
  EXPECT_EQ(slurp(dir / "ok.log"), "hello\noops\n");
  EXPECT_FALSE(out[1].ok);
  EXPECT_EQ(out[1].why, "exit status 3");
  EXPECT_FALSE(out[2].ok);
  EXPECT_NE(out[2].why.find("signal 9"), std::string::npos) << out[2].why;
  EXPECT_FALSE(out[3].ok);
  // posix_spawnp may report a missing program itself or through the child (exit status 127).
  EXPECT_TRUE(out[3].why.find("cannot start") != std::string::npos || out[3].why == "exit status 127") << out[3].why;
  fs::remove_all(dir);
}

TEST(ChildRuns, NeverRunsMoreThanJobsAtOnce) {
  const fs::path dir = fs::temp_directory_path() / "gn_child_runs_jobs_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Each run takes a lock directory (mkdir is atomic) and fails if it cannot: with jobs = 1 none may fail.
  const std::string lock = (dir / "lock").string();
  std::vector<sweep::ChildRun> runs;
  for (int i = 0; i < 4; ++i)
    runs.push_back({std::to_string(i),
                    {"sh", "-c", "mkdir " + lock + " && sleep 0.05 && rmdir " + lock},
                    dir / (std::to_string(i) + ".log")});
  for (const auto& o : sweep::run_children(runs, 1)) EXPECT_TRUE(o.ok) << o.name << ": " << o.why;
  EXPECT_THROW(sweep::run_children(runs, 0), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gn
