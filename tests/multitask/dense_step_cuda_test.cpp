// The CUDA step with a convolutional W and the three dense NYUv2 losses against the CPU step, in
// float32, for every weighting. Skips visibly without a GPU.
#include <gtest/gtest.h>

#include <string>

#include "dense_fixture.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/adam.h"
#include "tests/cuda_test_support.h"

namespace gn {
namespace {

using namespace testing_support;

void expect_close(const std::vector<double>& gpu, const std::vector<double>& cpu, double rtol,
                  const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(gpu[i], cpu[i], rtol * (1 + std::abs(cpu[i]))) << what << i;
}

class CudaDenseStep : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaDenseStep, MatchesCpuStep) {
  GN_SKIP_WITHOUT_CUDA();
  DenseProblem cpu_p{.batch = 3, .in_channels = 3, .height = 16, .width = 12, .dtype = DType::Float32};
  DenseProblem gpu_p = cpu_p;
  gpu_p.device = cuda_device();
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 1.5;
  cfg.static_weights = {0.5, 1.0, 1.5};
  auto cpu_model = dense_model(cpu_p, 21), gpu_model = dense_model(gpu_p, 21);
  auto cpu_w = multitask::make_weighting(GetParam(), 3, cfg), gpu_w = multitask::make_weighting(GetParam(), 3, cfg);
  nn::Adam cpu_opt(cpu_model->parameters(), 1e-3), gpu_opt(gpu_model->parameters(), 1e-3);
  multitask::MultitaskStep cpu_step(*cpu_model, *cpu_w, cpu_opt), gpu_step(*gpu_model, *gpu_w, gpu_opt);
  // float32 on two backends with different summation orders (cuDNN vs im2col + Eigen): a few steps keep
  // the drift near 1e-4.
  constexpr double kRtol = 2e-3;
  for (int t = 0; t < 5; ++t) {
    const TinyBatch a_batch = dense_batch(cpu_p, 700 + t), b_batch = dense_batch(gpu_p, 700 + t);
    const auto a = cpu_step.step(a_batch.x, a_batch.y);
    const auto b = gpu_step.step(b_batch.x, b_batch.y, /*want_stats=*/true);
    expect_close(b.losses, a.losses, kRtol, "losses");
    expect_close(b.weights, a.weights, kRtol, "weights");
    expect_close(b.weighted_norms, a.weighted_norms, kRtol, "weighted_norms");
    expect_close(b.next_weights, a.next_weights, kRtol, "next_weights");
  }
  const auto pc = cpu_model->parameters(), pg = gpu_model->parameters();
  for (std::size_t k = 0; k < pc.size(); ++k)
    expect_close(pg[k].to_vector(), pc[k].to_vector(), kRtol, "parameter " + std::to_string(k) + " element ");
}

INSTANTIATE_TEST_SUITE_P(Weightings, CudaDenseStep, ::testing::Values("equal", "static", "gradnorm", "uncertainty"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace gn
