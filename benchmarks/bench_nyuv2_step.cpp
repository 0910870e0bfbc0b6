// Step time of the NYUv2 SegNet (apps/nyuv2/models.h) on the CPU: width_mult 0.25, 96x128 inputs, batch 8,
// float32, three tasks (segmentation 13 classes, cross-entropy with ignore -1; depth 1 and normals 3, MSE),
// one full MultitaskStep (forward, per-task head backward, trunk backward, Adam step).
//   ./build/benchmarks/bench_nyuv2_step --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// BM_SegNetStepPaired: GradNorm's extra cost on this network, equal-weighting and GradNorm steps (two models
// from the same seed, the same batch) interleaved one by one (benchmarks/paired.h), so a shared machine's
// drifts hit both alike; its counter gradnorm_over_equal is the median of the per-pair time ratios.
//   ./build/benchmarks/bench_nyuv2_step --benchmark_filter=Paired --benchmark_repetitions=3
// Compare with benchmarks/nyuv2_torch.py (the same network, losses and optimizer in PyTorch,
// torch.set_num_threads(2)) run right after, on the same machine. On a shared machine compare the CPU
// columns (process CPU time over all threads): wall time there includes waiting for a core.
#include <benchmark/benchmark.h>

#include "apps/nyuv2/models.h"
#include "benchmarks/paired.h"
#include "core/rng.h"
#include "kernels/cpu/threads.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/adam.h"

namespace {

using namespace gn;

constexpr std::int64_t kBatch = 8, kH = 96, kW = 128;

std::shared_ptr<multitask::MultitaskModel> segnet() {
  nyuv2::ModelSpec spec;
  spec.kind = nyuv2::ModelKind::SegNet;
  spec.width_mult = 0.25;
  spec.tasks = {{"segmentation", 13, multitask::TaskLoss::cross_entropy(-1), {}},
                {"depth", 1, multitask::TaskLoss::mse(), {}},
                {"normals", 3, multitask::TaskLoss::mse(), {}}};
  spec.seed = 1;
  return nyuv2::make_nyuv2_model(spec);
}

struct Batch {
  Tensor x;
  std::vector<Tensor> y;
};

Batch batch() {
  Generator gen(3);
  Batch b;
  b.x = Tensor::randn({kBatch, 3, kH, kW}, gen);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(kBatch * kH * kW));
  for (auto& l : labels) l = static_cast<std::int64_t>(gen.next_u64() % 14) - 1;  // -1: ignored
  b.y = {Tensor::from_labels(labels, {kBatch, kH, kW}), Tensor::randn({kBatch, 1, kH, kW}, gen),
         Tensor::randn({kBatch, 3, kH, kW}, gen)};
  return b;
}

void BM_SegNetStep(benchmark::State& state, const char* method) {
  const int threads = static_cast<int>(state.range(0));
  cpu::set_num_threads(threads);
  auto model = segnet();
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 1.5;
  auto weighting = multitask::make_weighting(method, 3, cfg);
  nn::Adam opt(model->parameters(), 2e-5);
  multitask::MultitaskStep stepper(*model, *weighting, opt);
  const Batch b = batch();
  const Tensor& x = b.x;
  const std::vector<Tensor>& y = b.y;
  for (int warm = 0; warm < 2; ++warm) stepper.step(x, y, false);
  for (auto _ : state) benchmark::DoNotOptimize(stepper.step(x, y, false));
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
  state.counters["params"] = static_cast<double>(model->num_parameters());
}

BENCHMARK_CAPTURE(BM_SegNetStep, equal, "equal")
    ->Arg(2)
    ->Arg(1)  // one thread: no barrier waits, so on a loaded machine its CPU time is the steadier figure
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0)
    ->MeasureProcessCPUTime()  // the CPU column: every thread's time, comparable to time.process_time()
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SegNetStep, gradnorm, "gradnorm")
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0)
    ->MeasureProcessCPUTime()  // the CPU column: every thread's time, comparable to time.process_time()
    ->UseRealTime();

// Equal weighting and GradNorm (alpha 1.5) steps interleaved: counters equal_ms, gradnorm_ms (medians) and
// gradnorm_over_equal (the median of the per-pair ratios). Wall time per step, so run it with one thread on
// a machine as quiet as can be had.
void BM_SegNetStepPaired(benchmark::State& state) {
  cpu::set_num_threads(static_cast<int>(state.range(0)));
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 1.5;
  bench::StepRun equal(segnet(), "equal", cfg, 2e-5), gradnorm(segnet(), "gradnorm", cfg, 2e-5);
  const Batch b = batch();
  for (int warm = 0; warm < 2; ++warm) {
    equal.step->step(b.x, b.y, false);
    gradnorm.step->step(b.x, b.y, false);
  }
  bench::run_paired(
      state, "equal", [&] { equal.step->step(b.x, b.y, false); }, "gradnorm",
      [&] { gradnorm.step->step(b.x, b.y, false); });
}
BENCHMARK(BM_SegNetStepPaired)->Arg(1)->ArgName("threads")->Iterations(15)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
