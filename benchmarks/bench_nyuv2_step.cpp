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
//
// On CUDA (cuda:0; scripts/gpu_check.sh, profile bench, step segnet, runs them): the paper's network, full
// SegNet (width_mult 1, 29,453,073 parameters with these three heads), 288x384 inputs, batch 24, float32,
// the same tasks, losses and Adam. BM_SegNetStepCuda/equal times the equal-weighting step;
// BM_SegNetStepPairedCuda interleaves equal and GradNorm steps as BM_SegNetStepPaired does (its counter
// gradnorm_over_equal; the _cpu counters there are host time only). Every timed step ends with
// gn::synchronize(cuda:0), so wall time is the device's time (UseRealTime). Without a usable device both
// are skipped with the reason ("no CUDA device: ...") and the binary exits 0. Compare with
// `benchmarks/nyuv2_torch.py --device cuda --height 288 --image-width 384 --batch 24 --width 1` on the same
// GPU. Few fixed iterations (10 steps; 8 pairs), after 3 warm-up steps (each), to fit the check's budget:
//   ./build/benchmarks/bench_nyuv2_step --benchmark_filter=Cuda --benchmark_format=json
#include <benchmark/benchmark.h>

#include <exception>
#include <string>

#include "apps/nyuv2/models.h"
#include "benchmarks/paired.h"
#include "core/device.h"
#include "core/rng.h"
#include "kernels/cpu/threads.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/adam.h"

namespace {

using namespace gn;

constexpr std::int64_t kBatch = 8, kH = 96, kW = 128;

std::shared_ptr<multitask::MultitaskModel> segnet(double width_mult = 0.25, Device device = cpu_device()) {
  nyuv2::ModelSpec spec;
  spec.kind = nyuv2::ModelKind::SegNet;
  spec.width_mult = width_mult;
  spec.device = device;
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

Batch batch(std::int64_t batch = kBatch, std::int64_t h = kH, std::int64_t w = kW, Device device = cpu_device()) {
  Generator gen(3);
  Batch b;
  b.x = Tensor::randn({batch, 3, h, w}, gen, 0, 1, DType::Float32, device);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch * h * w));
  for (auto& l : labels) l = static_cast<std::int64_t>(gen.next_u64() % 14) - 1;  // -1: ignored
  b.y = {Tensor::from_labels(labels, {batch, h, w}, device),
         Tensor::randn({batch, 1, h, w}, gen, 0, 1, DType::Float32, device),
         Tensor::randn({batch, 3, h, w}, gen, 0, 1, DType::Float32, device)};
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

// ---- CUDA: full SegNet, 288x384, batch 24 (the paper's scale), on cuda:0.
constexpr std::int64_t kCudaBatch = 24, kCudaH = 288, kCudaW = 384;
constexpr int kCudaWarmup = 3;  // cuDNN descriptors and algorithms (cached per shape), workspace, allocator

// The skip every CUDA benchmark takes without a device (gpu_check.sh reads "error_occurred").
bool skip_without_cuda(benchmark::State& state) {
  if (cuda_available()) return false;
  state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
  return true;
}

void cuda_counters(benchmark::State& state, const multitask::MultitaskModel& model) {
  state.counters["params"] = static_cast<double>(model.num_parameters());
  state.counters["batch"] = static_cast<double>(kCudaBatch);
}

void BM_SegNetStepCuda(benchmark::State& state, const char* method) {
  if (skip_without_cuda(state)) return;
  const Device dev = cuda_device(0);
  try {
    auto model = segnet(1.0, dev);
    multitask::WeightingConfig cfg;
    cfg.gradnorm.alpha = 1.5;
    auto weighting = multitask::make_weighting(method, 3, cfg);
    nn::Adam opt(model->parameters(), 2e-5);
    multitask::MultitaskStep stepper(*model, *weighting, opt);
    const Batch b = batch(kCudaBatch, kCudaH, kCudaW, dev);
    for (int warm = 0; warm < kCudaWarmup; ++warm) stepper.step(b.x, b.y, false);
    synchronize(dev);
    for (auto _ : state) {
      benchmark::DoNotOptimize(stepper.step(b.x, b.y, false));
      synchronize(dev);
    }
    stepper.check_divergence();
    state.counters["images_per_s"] =
        benchmark::Counter(static_cast<double>(state.iterations() * kCudaBatch), benchmark::Counter::kIsRate);
    cuda_counters(state, *model);
  } catch (const std::exception& e) {  // e.g. out of device memory, or a build without cuDNN
    state.SkipWithError(e.what());
  }
}
BENCHMARK_CAPTURE(BM_SegNetStepCuda, equal, "equal")->Unit(benchmark::kMillisecond)->Iterations(10)->UseRealTime();

// Equal and GradNorm (alpha 1.5) interleaved on the GPU, each step synchronised: counters equal_ms,
// gradnorm_ms (medians, wall = device time) and gradnorm_over_equal (the median of the per-pair ratios).
void BM_SegNetStepPairedCuda(benchmark::State& state) {
  if (skip_without_cuda(state)) return;
  const Device dev = cuda_device(0);
  try {
    multitask::WeightingConfig cfg;
    cfg.gradnorm.alpha = 1.5;
    bench::StepRun equal(segnet(1.0, dev), "equal", cfg, 2e-5), gradnorm(segnet(1.0, dev), "gradnorm", cfg, 2e-5);
    const Batch b = batch(kCudaBatch, kCudaH, kCudaW, dev);
    for (int warm = 0; warm < kCudaWarmup; ++warm) {
      equal.step->step(b.x, b.y, false);
      gradnorm.step->step(b.x, b.y, false);
    }
    synchronize(dev);
    bench::run_paired(
        state, "equal",
        [&] {
          equal.step->step(b.x, b.y, false);
          synchronize(dev);
        },
        "gradnorm",
        [&] {
          gradnorm.step->step(b.x, b.y, false);
          synchronize(dev);
        });
    equal.step->check_divergence();
    gradnorm.step->check_divergence();
    cuda_counters(state, *equal.model);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}
BENCHMARK(BM_SegNetStepPairedCuda)->Iterations(8)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
