// The paper's qualitative toy result at T = 2 (Section 4), on a short run: GradNorm raises the weight of
// the low-sigma task above 1 and ends with a lower task-normalised test loss than equal weighting.
// Settings are the app's defaults except the step count (2000 instead of the default) to keep it quick.
//
// Sanitizer-sized: under AddressSanitizer (scripts/sanitize.sh; detected with __SANITIZE_ADDRESS__ for GCC and
// __has_feature(address_sanitizer) for clang) the run is 300 steps per method instead of 2000 and only the
// structural checks are kept (weights sum to T, same step-0 losses): the comparison with equal weighting is a
// statistical claim about a 2000-step run, and the sanitizer run looks for memory errors and UB, which the same
// code paths show after 300 steps. 2 x 2000 steps take about 90 s in Release on 2 loaded cores, several
// times that under ASan + UBSan.
#include <gtest/gtest.h>

#include "apps/toy/experiment.h"
#include "core/device.h"
#include "tests/cuda_test_support.h"

namespace gn::toy {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST(ToyT2, GradNormBeatsEqualWeightingAndRaisesLowSigmaWeight) {
  ToyDataConfig data;
  data.sigmas = {1.0, 100.0};
  const ToyData d = make_toy_data(data);
  ToyRunConfig run;
  run.steps = kSanitized ? 300 : 2000;
  run.log_every = kSanitized ? 100 : 500;
  run.weighting.gradnorm.alpha = 0.12;
  run.init_seed = 1001;
  run.batch_seed = 1002;
  run.method = "equal";
  const auto equal = run_toy(d, run);
  run.method = "gradnorm";
  const auto gradnorm = run_toy(d, run);
  EXPECT_NEAR(gradnorm.final_weights[0] + gradnorm.final_weights[1], 2.0, 1e-9);
  if (!kSanitized) {  // the paper's claim, on the full 2000-step run only
    EXPECT_GT(gradnorm.mean_weights[0], 1.0);
    EXPECT_GT(gradnorm.final_weights[0], 1.0);
    EXPECT_LT(gradnorm.test_loss_ratio_sum, equal.test_loss_ratio_sum);
  }
  // Both runs start from the same network and data: identical step-0 test losses.
  EXPECT_EQ(equal.initial_test_losses, gradnorm.initial_test_losses);
}

TEST(ToyData, SameSeedSameData) {
  ToyDataConfig c;
  c.train_size = 50;
  c.test_size = 10;
  const ToyData a = make_toy_data(c), b = make_toy_data(c);
  EXPECT_EQ(a.train.y[1].to_vector(), b.train.y[1].to_vector());
  c.seed = 2;
  EXPECT_NE(make_toy_data(c).train.y[1].to_vector(), a.train.y[1].to_vector());
  // The targets of task i are bounded by sigma_i (tanh).
  for (double v : a.test.y[1].to_vector()) EXPECT_LE(std::abs(v), 100.0);
}

}  // namespace
}  // namespace gn::toy

namespace gn::toy {
namespace {

// The toy comparison on CUDA matches the CPU table within float32 tolerance (short run).
TEST(ToyCuda, MatchesCpuResultTable) {
  GN_SKIP_WITHOUT_CUDA();
  ToyDataConfig data;
  data.train_size = 2000;
  data.test_size = 500;
  const ToyData d = make_toy_data(data);
  for (const char* method : {"equal", "gradnorm", "uncertainty"}) {
    ToyRunConfig run;
    run.steps = 300;
    run.log_every = 100;
    run.method = method;
    run.weighting.gradnorm.alpha = 0.12;
    const auto on_cpu = run_toy(d, run);
    run.device = cuda_device();
    const auto on_gpu = run_toy(d, run);
    EXPECT_NEAR(on_gpu.test_loss_ratio_sum, on_cpu.test_loss_ratio_sum, 1e-2 * on_cpu.test_loss_ratio_sum) << method;
    for (int i = 0; i < 2; ++i)
      EXPECT_NEAR(on_gpu.final_weights[i], on_cpu.final_weights[i], 2e-2 * (1 + on_cpu.final_weights[i])) << method;
  }
}

}  // namespace
}  // namespace gn::toy
