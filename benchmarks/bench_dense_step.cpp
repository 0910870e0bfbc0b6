// GradNorm's extra cost with a convolutional W: a small conv trunk with the paper's three NYUv2 tasks
// (masked depth L2, 13-class segmentation with ignored pixels, normals cosine), float32 on the CPU,
// equal weighting and GradNorm steps interleaved (benchmarks/paired.h). GradNorm adds the T per-task
// W gradients (one stacked backward-filter; the network's own W gradient is their sum, so one of the T
// is not extra), one norm reduction and the weight update; nothing else differs.
//   ./build/benchmarks/bench_dense_step --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "benchmarks/paired.h"
#include "kernels/cpu/threads.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/adam.h"
#include "tests/multitask/dense_fixture.h"

namespace {

using namespace gn;

// 8 images 3 x 48 x 64; four 3x3 conv layers of 32 channels, W a 3x3 stride-2 conv (32 -> 32, z at
// 24 x 32), heads 3x3 conv (32) + 1x1 conv; targets at the input resolution (the loss resizes them).
testing_support::DenseProblem problem() {
  return {.batch = 8,
          .in_channels = 3,
          .height = 48,
          .width = 64,
          .trunk_channels = 32,
          .shared_channels = 32,
          .classes = 13,
          .trunk_layers = 4,
          .head_channels = 32,
          .dtype = DType::Float32};
}

void BM_DenseStepPaired(benchmark::State& state) {
  cpu::set_num_threads(static_cast<int>(state.range(0)));
  const auto p = problem();
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 1.5;
  bench::StepRun equal(testing_support::dense_model(p, 1), "equal", cfg, 1e-4),
      gradnorm(testing_support::dense_model(p, 1), "gradnorm", cfg, 1e-4);
  const auto batch = testing_support::dense_batch(p, 3);
  for (int warm = 0; warm < 3; ++warm) {
    equal.step->step(batch.x, batch.y, false);
    gradnorm.step->step(batch.x, batch.y, false);
  }
  bench::run_paired(
      state, "equal", [&] { equal.step->step(batch.x, batch.y, false); }, "gradnorm",
      [&] { gradnorm.step->step(batch.x, batch.y, false); });
}
BENCHMARK(BM_DenseStepPaired)->Arg(1)->Arg(2)->ArgName("threads")->Iterations(40)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
