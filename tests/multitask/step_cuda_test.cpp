// The CUDA multitask step (device-resident weights, fused kernels, device GradNorm update) against the
// CPU step, in float32, for every weighting. Skips visibly without a GPU.
#include <gtest/gtest.h>

#include "core/device.h"
#include "core/rng.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "tests/cuda_test_support.h"

namespace gn {
namespace {

std::shared_ptr<multitask::MultitaskModel> model_on(Device d, int T) {
  Generator gen(21);
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(std::make_shared<nn::Linear>(33, 31, gen, true, DType::Float32, d));
  trunk->push_back(std::make_shared<nn::ReLU>());
  auto shared = std::make_shared<nn::Linear>(31, 32, gen, true, DType::Float32, d);
  std::vector<std::shared_ptr<nn::Module>> heads;
  for (int i = 0; i < T; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::ReLU>());
    head->push_back(std::make_shared<nn::Linear>(32, 7, gen, true, DType::Float32, d));
    heads.push_back(head);
  }
  return std::make_shared<multitask::MultitaskModel>(trunk, shared, heads);
}

void expect_close(const std::vector<double>& gpu, const std::vector<double>& cpu, double rtol, const char* what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(gpu[i], cpu[i], rtol * (1 + std::abs(cpu[i]))) << what << i;
}

class CudaStep : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaStep, MatchesCpuStep) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = 3;
  std::string method = GetParam();
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 0.5;
  if (method == "gradnorm_sgd_mean_of_first") {  // the other weight optimizer and L_i(0) rule, on the device too
    method = "gradnorm";
    cfg.gradnorm.optimizer = "sgd";
    cfg.gradnorm.lr = 0.05;
    cfg.gradnorm.initial_loss = multitask::InitialLoss::parse("mean-of-first:2");
  }
  cfg.static_weights = {0.5, 1.0, 1.5};
  auto cpu_model = model_on(cpu_device(), T), gpu_model = model_on(cuda_device(), T);
  auto cpu_w = multitask::make_weighting(method, T, cfg), gpu_w = multitask::make_weighting(method, T, cfg);
  nn::Adam cpu_opt(cpu_model->parameters(), 1e-3), gpu_opt(gpu_model->parameters(), 1e-3);
  multitask::MultitaskStep cpu_step(*cpu_model, *cpu_w, cpu_opt), gpu_step(*gpu_model, *gpu_w, gpu_opt);
  Generator gen(5);
  // float32 on two backends with different summation orders: a few steps keep the drift near 1e-4.
  constexpr double kRtol = 2e-3;
  for (int t = 0; t < 5; ++t) {
    const Tensor x = Tensor::randn({17, 33}, gen);
    std::vector<Tensor> y_cpu, y_gpu;
    for (int i = 0; i < T; ++i) {
      y_cpu.push_back(Tensor::randn({17, 7}, gen, 0, std::pow(10.0, i)));
      y_gpu.push_back(y_cpu.back().to(cuda_device()));
    }
    const auto a = cpu_step.step(x, y_cpu);
    const auto b = gpu_step.step(x.to(cuda_device()), y_gpu, /*want_stats=*/true);
    expect_close(b.losses, a.losses, kRtol, "losses");
    expect_close(b.weights, a.weights, kRtol, "weights");
    expect_close(b.weighted_norms, a.weighted_norms, kRtol, "weighted_norms");
    expect_close(b.next_weights, a.next_weights, kRtol, "next_weights");
    ASSERT_EQ(b.diagnostics.entries.size(), a.diagnostics.entries.size());
    for (const auto& [name, values] : a.diagnostics.entries)
      expect_close(b.diagnostics.at(name), values, kRtol, name.c_str());
  }
  const auto pc = cpu_model->parameters(), pg = gpu_model->parameters();
  for (std::size_t k = 0; k < pc.size(); ++k) expect_close(pg[k].to_vector(), pc[k].to_vector(), kRtol, "param");
  expect_close(gpu_step.mean_weights(), cpu_step.mean_weights(), kRtol, "mean_weights");
}

INSTANTIATE_TEST_SUITE_P(Weightings, CudaStep,
                         ::testing::Values("equal", "static", "gradnorm", "uncertainty", "gradnorm_sgd_mean_of_first"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace gn
