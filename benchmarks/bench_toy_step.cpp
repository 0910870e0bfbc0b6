// Step time of the paper's toy model (batch 100, float32): equal weighting vs GradNorm, T = 2 and 10.
// GradNorm's overhead over equal is the batched per-task weight-gradient GEMM, the norm reduction and
// the weight update (steps 4-5 of multitask/step.h); everything else is the same path.
//   ./build/benchmarks/bench_toy_step --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Compare with benchmarks/toy_step_torch.py (same model in PyTorch) run right after, on the same machine.
#include <benchmark/benchmark.h>

#include "apps/toy/experiment.h"
#include "benchmarks/paired.h"
#include "core/rng.h"
#include "kernels/cpu/threads.h"
#include "multitask/step.h"
#include "nn/adam.h"

namespace {

using namespace gn;

void BM_ToyStep(benchmark::State& state, const char* method) {
  const int T = static_cast<int>(state.range(0));
  cpu::set_num_threads(static_cast<int>(state.range(1)));
  constexpr std::int64_t kBatch = 100, kIn = 250, kHidden = 100, kOut = 100;
  auto model = toy::make_toy_model(kIn, kHidden, kOut, T, 1);
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 0.12;
  auto weighting = multitask::make_weighting(method, T, cfg);
  nn::Adam opt(model->parameters(), 1e-3);
  multitask::MultitaskStep stepper(*model, *weighting, opt);
  Generator gen(3);
  const Tensor x = Tensor::randn({kBatch, kIn}, gen);
  std::vector<Tensor> y;
  for (int i = 0; i < T; ++i) y.push_back(Tensor::randn({kBatch, kOut}, gen, 0, i == 0 ? 1.0 : 100.0));
  for (int warm = 0; warm < 20; ++warm) stepper.step(x, y);
  for (auto _ : state) benchmark::DoNotOptimize(stepper.step(x, y));
  state.counters["steps_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Equal and GradNorm steps interleaved one by one in the same loop (benchmarks/paired.h).
void BM_ToyStepPaired(benchmark::State& state) {
  const int T = static_cast<int>(state.range(0));
  cpu::set_num_threads(1);
  constexpr std::int64_t kBatch = 100, kIn = 250, kHidden = 100, kOut = 100;
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 0.12;
  bench::StepRun equal(toy::make_toy_model(kIn, kHidden, kOut, T, 1), "equal", cfg, 1e-3),
      gradnorm(toy::make_toy_model(kIn, kHidden, kOut, T, 1), "gradnorm", cfg, 1e-3);
  Generator gen(3);
  const Tensor x = Tensor::randn({kBatch, kIn}, gen);
  std::vector<Tensor> y;
  for (int i = 0; i < T; ++i) y.push_back(Tensor::randn({kBatch, kOut}, gen, 0, i == 0 ? 1.0 : 100.0));
  for (int warm = 0; warm < 20; ++warm) {
    equal.step->step(x, y);
    gradnorm.step->step(x, y);
  }
  bench::run_paired(
      state, "equal", [&] { benchmark::DoNotOptimize(equal.step->step(x, y)); }, "gradnorm",
      [&] { benchmark::DoNotOptimize(gradnorm.step->step(x, y)); });
}
BENCHMARK(BM_ToyStepPaired)->Arg(2)->Arg(10)->ArgName("T")->Iterations(3000)->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_ToyStep, equal, "equal")
    ->ArgsProduct({{2, 10}, {1}})
    ->ArgNames({"T", "threads"})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ToyStep, gradnorm, "gradnorm")
    ->ArgsProduct({{2, 10}, {1}})
    ->ArgNames({"T", "threads"})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
