// The apps' command-line validators: a user-facing message for every way a number can be wrong, and
// nothing silently misread; and the output directory proven writable before any training.
#include "apps/common/cli_checks.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "apps/common/writers.h"
#include "core/error.h"

namespace gn::app {
namespace {

// What the validator says about `text` ("" = accepted).
std::string verdict(const CLI::Validator& v, std::string text) { return v(text); }

TEST(CliChecks, IntegersInARange) {
  const auto v = int_in(1, 1000);
  EXPECT_EQ(verdict(v, "1"), "");
  EXPECT_EQ(verdict(v, "1000"), "");
  EXPECT_EQ(verdict(v, "abc"), "'abc' is not an integer");
  EXPECT_EQ(verdict(v, "2.5"), "'2.5' is not an integer");
  EXPECT_EQ(verdict(v, ""), "'' is not an integer");
  EXPECT_EQ(verdict(v, "-5"), "-5 is not in [1, 1000]");
  EXPECT_EQ(verdict(v, "1001"), "1001 is not in [1, 1000]");
  EXPECT_EQ(verdict(v, "99999999999999999999"), "99999999999999999999 does not fit a 64-bit integer");
}

TEST(CliChecks, SeedsAreNonNegative) {
  const auto v = unsigned_int();
  EXPECT_EQ(verdict(v, "0"), "");
  EXPECT_EQ(verdict(v, "18446744073709551615"), "");
  EXPECT_EQ(verdict(v, "-1"), "-1 is negative: expected an integer >= 0") << "would wrap to 2^64 - 1";
  EXPECT_EQ(verdict(v, "18446744073709551616"), "18446744073709551616 does not fit 64 bits");
  EXPECT_EQ(verdict(v, "x1"), "'x1' is not a non-negative integer");
}

// CLI11 drops empty items of a delimited list ("1,,100" would read as 1,100): refused, naming the option.
TEST(CliChecks, EmptyListItemsRefused) {
  const auto verdict_of = [](std::vector<const char*> args) -> std::string {
    CLI::App app;
    std::vector<double> sigmas;
    std::vector<std::string> tasks;
    std::string name;
    app.add_option("--sigmas", sigmas)->delimiter(',');
    app.add_option("--name", name);  // not a list: commas are its own business
    CLI::App* sub = app.add_subcommand("train");
    sub->add_option("--tasks", tasks)->delimiter(',');
    app.allow_extras();
    args.insert(args.begin(), "app");
    try {
      app.parse(static_cast<int>(args.size()), args.data());
      refuse_empty_list_items(app, static_cast<int>(args.size()), args.data());
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(verdict_of({"--sigmas", "1,10,100"}), "");
  EXPECT_EQ(verdict_of({"--sigmas", "1", "100"}), "");
  EXPECT_EQ(verdict_of({"--name", "a,,b"}), "");
  EXPECT_EQ(verdict_of({"--sigmas", "1,,100"}),
            "--sigmas: '1,,100' has an empty item (expected values separated by single ',', none empty)");
  EXPECT_NE(verdict_of({"--sigmas=1,"}), "");
  EXPECT_NE(verdict_of({"--sigmas", ",1"}), "");
  EXPECT_NE(verdict_of({"train", "--tasks", "depth,,normal"}).find("--tasks: 'depth,,normal'"), std::string::npos);
  EXPECT_EQ(verdict_of({"--", "--sigmas", "1,,2"}), "") << "after --: another program's arguments";
}

TEST(CliChecks, FiniteNumbers) {
  const auto positive = finite_positive();
  EXPECT_EQ(verdict(positive, "1e-3"), "");
  EXPECT_EQ(verdict(positive, "0"), "0 is not > 0");
  EXPECT_EQ(verdict(positive, "nan"), "nan is not a finite number");
  EXPECT_EQ(verdict(positive, "inf"), "inf is not a finite number");
  EXPECT_EQ(verdict(positive, "1e400"), "1e400 is too large");
  EXPECT_EQ(verdict(positive, ""), "'' is not a number") << "an empty list item is not a zero";
  EXPECT_EQ(verdict(positive, "1.5x"), "'1.5x' is not a number");
  const auto unit = finite_in(0, 1, true);
  EXPECT_EQ(verdict(unit, "1"), "");
  EXPECT_EQ(verdict(unit, "0"), "0 is not in (0, 1]");
  EXPECT_EQ(verdict(finite_in(0, 1), "0"), "");
  EXPECT_EQ(verdict(finite_in(0, 100), "150"), "150 is not in [0, 100]");
}

TEST(PrepareOutputDir, CreatesAndProvesWritable) {
  const auto dir = std::filesystem::temp_directory_path() / "gn_prepare_output_dir_test" / "nested";
  std::filesystem::remove_all(dir.parent_path());
  prepare_output_dir(dir);
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "the probe file is removed";
  const auto file = dir / "a_file";
  write_atomically(file, "x");
  try {
    prepare_output_dir(file);
    ADD_FAILURE() << "a file as the output directory was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(prepare_output_dir("/proc/gn_cannot_exist/x"), Error);
  std::filesystem::remove_all(dir.parent_path());
}

}  // namespace
}  // namespace gn::app
