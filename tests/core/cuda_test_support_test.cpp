// The GN_REQUIRE_CUDA switch of tests/cuda_test_support.h: without it a CUDA test skips when no device
// answers; with it the same test fails, so a GPU machine with a broken driver cannot pass green. The
// helper's results are caught by a fake reporter, so this test passes on any machine, GPU or not, and
// fails if the switch stops working. The cases use GN_SKIP_WITHOUT_CUDA_IF with a forced condition (both
// paths are checked everywhere), then the real GN_SKIP_WITHOUT_CUDA() against this machine.
#include "tests/cuda_test_support.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"

namespace {

// Sets GN_REQUIRE_CUDA (or unsets it for nullopt) for one scope; restores what was there before, since
// scripts/gpu_check.sh runs every test with GN_REQUIRE_CUDA=1.
class ScopedRequireCuda {
 public:
  explicit ScopedRequireCuda(std::optional<std::string> value) {
    if (const char* old = std::getenv("GN_REQUIRE_CUDA")) old_ = old;
    set(value);
  }
  ~ScopedRequireCuda() { set(old_); }
  ScopedRequireCuda(const ScopedRequireCuda&) = delete;
  ScopedRequireCuda& operator=(const ScopedRequireCuda&) = delete;

 private:
  static void set(const std::optional<std::string>& v) {
    if (v)
      setenv("GN_REQUIRE_CUDA", v->c_str(), 1);
    else
      unsetenv("GN_REQUIRE_CUDA");
  }
  std::optional<std::string> old_;
};

bool reached_the_end = false;  // set by the helpers below when the check let them through

void check_forced(bool missing) {
  reached_the_end = false;
  GN_SKIP_WITHOUT_CUDA_IF(missing, "fake reason 7f3a");
  reached_the_end = true;
}

void check_real() {
  reached_the_end = false;
  GN_SKIP_WITHOUT_CUDA();
  reached_the_end = true;
}

// Runs fn with its test results (skip, failure) captured instead of reported.
template <class Fn>
std::vector<::testing::TestPartResult> capture(Fn fn) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    fn();
  }
  std::vector<::testing::TestPartResult> out;
  for (int i = 0; i < results.size(); ++i) out.push_back(results.GetTestPartResult(i));
  return out;
}

bool mentions(const ::testing::TestPartResult& r, const std::string& what) {
  return std::string(r.message()).find(what) != std::string::npos;
}

TEST(CudaTestSupport, SwitchTurnsTheSkipIntoAFailure) {
  for (const char* on : {"1", "yes"}) {
    const ScopedRequireCuda env(on);
    EXPECT_TRUE(gn_test::cuda_required()) << on;
    const auto r = capture([] { check_forced(true); });
    ASSERT_EQ(r.size(), 1u) << on;
    EXPECT_TRUE(r[0].fatally_failed()) << on;
    EXPECT_TRUE(mentions(r[0], "GN_REQUIRE_CUDA=1")) << r[0].message();
    EXPECT_TRUE(mentions(r[0], "fake reason 7f3a")) << r[0].message();
    EXPECT_FALSE(reached_the_end) << "a failed check must return from the test";
  }
}

TEST(CudaTestSupport, WithoutTheSwitchItSkips) {
  for (const std::optional<std::string>& off :
       {std::optional<std::string>(), std::optional<std::string>("0"), std::optional<std::string>("")}) {
    const ScopedRequireCuda env(off);
    EXPECT_FALSE(gn_test::cuda_required()) << off.value_or("(unset)");
    const auto r = capture([] { check_forced(true); });
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].skipped());
    EXPECT_TRUE(mentions(r[0], "fake reason 7f3a")) << r[0].message();
    EXPECT_FALSE(reached_the_end);
  }
}

TEST(CudaTestSupport, DoesNothingWhenCudaIsThere) {
  for (const char* v : {"1", "0"}) {
    const ScopedRequireCuda env(v);
    EXPECT_EQ(capture([] { check_forced(false); }).size(), 0u) << v;
    EXPECT_TRUE(reached_the_end) << v;
  }
}

// The real check on this machine: with the switch, no device means a failure naming the reason (this is
// what a GPU machine with a broken driver reports); with a device, nothing.
TEST(CudaTestSupport, RealCheckFailsUnderTheSwitchExactlyWhenNoDeviceAnswers) {
  const ScopedRequireCuda env("1");
  const auto r = capture(check_real);
  if (gn::cuda_available()) {
    EXPECT_EQ(r.size(), 0u);
    EXPECT_TRUE(reached_the_end);
  } else {
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].fatally_failed());
    EXPECT_TRUE(mentions(r[0], gn::cuda_unavailable_reason())) << r[0].message();
    EXPECT_FALSE(reached_the_end);
  }
}

}  // namespace
