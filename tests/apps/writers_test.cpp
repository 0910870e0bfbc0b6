// apps/common writers (atomic files, metrics.csv, summary.json) and the --trace printout.
#include "apps/common/writers.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/trace.h"
#include "tests/apps/scratch_files.h"

namespace gn::app {
namespace {

namespace fs = std::filesystem;

// A fresh empty directory per test.
fs::path scratch(const std::string& name) { return test_files::scratch_dir("app_common", name); }

using test_files::slurp;

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::ranges::sort(out);
  return out;
}

// Runs `write`, expecting a gn::Error that names `path` and the system's reason for `err`.
template <class F>
void expect_error_naming(F write, const fs::path& path, int err) {
  try {
    write();
    FAIL() << "no error writing " << path;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find(std::strerror(err)), std::string::npos) << what;
  }
}

TEST(Writers, AtomicWriteLeavesOnlyTheFile) {
  const fs::path dir = scratch("atomic");
  write_atomically(dir / "a.txt", "first\n");
  write_atomically(dir / "a.txt", "second\n");  // replaces
  EXPECT_EQ(slurp(dir / "a.txt"), "second\n");
  EXPECT_EQ(entries(dir), std::vector<std::string>{"a.txt"});
  fs::remove_all(dir);
}

TEST(Writers, UnwritablePlacesThrowNamingThePathAndTheReason) {
  const fs::path dir = scratch("unwritable");
  write_atomically(dir / "file", "x");
  expect_error_naming([&] { write_atomically(dir / "file" / "metrics.csv", "y"); }, dir / "file" / "metrics.csv",
                      ENOTDIR);
  expect_error_naming([&] { write_atomically(dir / "missing" / "summary.json", "y"); },
                      dir / "missing" / "summary.json", ENOENT);
  // A directory without write permission (root may write anyway: then there is nothing to check).
  const fs::path ro = dir / "read_only";
  fs::create_directories(ro);
  ASSERT_EQ(chmod(ro.c_str(), 0555), 0);
  if (access(ro.c_str(), W_OK) != 0) {
    expect_error_naming([&] { write_json(ro / "summary.json", {{"a", 1}}); }, ro / "summary.json", EACCES);
    EXPECT_TRUE(entries(ro).empty());
  }
  chmod(ro.c_str(), 0755);
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"file", "read_only"}));  // no .tmp anywhere
  fs::remove_all(dir);
}

TEST(Writers, RenameFailureRemovesTheTemporary) {
  const fs::path dir = scratch("rename");
  fs::create_directories(dir / "target" / "occupied");  // rename(file, non-empty dir) fails
  expect_error_naming([&] { write_atomically(dir / "target", "z"); }, dir / "target", EISDIR);
  EXPECT_EQ(entries(dir), std::vector<std::string>{"target"});
  fs::remove_all(dir);
}

TEST(Writers, MetricsCsvFormatsRowsLikeTheToy) {
  std::vector<std::string> columns{"method", "step", "ratio"};
  for (auto& c : task_columns("w", 2)) columns.push_back(c);
  EXPECT_EQ(columns, (std::vector<std::string>{"method", "step", "ratio", "w_0", "w_1"}));
  MetricsCsv csv(columns);
  const double ratio = 1.0 / 3.0;
  csv.add_row("gradnorm", 50, {{&ratio, 1}, std::vector<double>{1.5, NAN}});
  EXPECT_EQ(csv.text(), "method,step,ratio,w_0,w_1\ngradnorm,50,0.333333333,1.5,nan\n");
  EXPECT_THROW(csv.add_row("x", 1, {std::vector<double>{1.0}}), Error);
  const fs::path dir = scratch("csv");
  csv.write(dir / "metrics.csv");
  EXPECT_EQ(slurp(dir / "metrics.csv"), csv.text());
  write_json(dir / "summary.json", {{"method", "equal"}, {"steps", 3}});
  EXPECT_EQ(slurp(dir / "summary.json"), "{\n  \"method\": \"equal\",\n  \"steps\": 3\n}\n");
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"metrics.csv", "summary.json"}));
  fs::remove_all(dir);
}

TEST(Trace, PrintsStatsAndEveryDiagnosticInTheToysFormat) {
  multitask::StepStats s;
  s.step = 2;
  s.losses = {0.5, 4000};
  s.grad_norms = {0.25, 1};
  s.weighted_norms = {0.375, 0.5};
  s.weights = {1.5, 0.5};
  s.next_weights = {1.25, 0.75};
  s.diagnostics.add("initial_losses", {0.25, 3000});
  s.diagnostics.add("lgrad", {0.125});
  EXPECT_EQ(format_trace(s),
            "--- step 2 ---\n"
            "  L_i                 [0.5, 4000]\n"
            "  g_i = |grad_W L_i|  [0.25, 1]\n"
            "  G_i = w_i g_i       [0.375, 0.5]\n"
            "  w before            [1.5, 0.5]\n"
            "  initial_losses      [0.25, 3000]\n"
            "  lgrad               [0.125]\n"
            "  w after             [1.25, 0.75]  (sum 2)\n");
}

}  // namespace
}  // namespace gn::app
