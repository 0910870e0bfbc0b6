// conv2d on CUDA (cuDNN, kernels/cuda/conv_cudnn.cpp) through the autograd op, float32, 3x3, stride 1,
// padding 1, with bias, batch 24, at the SegNet sizes 64->64 @160x160, 128->128 @80x80, 256->256 @40x40 and
// 512->512 @20x20 (the same 45 GFLOP per forward each). Two rows per size, as bench_conv_cpu: forward
// alone, and forward + backward (input, weight and bias gradients; 3x the forward's FLOPs).
// GFLOPs = 2 B C_out C_in kH kW H_out W_out per forward (multiply-adds counted as 2), per wall second; every
// iteration ends with gn::synchronize, so wall time is the device's time (UseRealTime).
// Compare with `benchmarks/conv_torch.py --device cuda --batch 24` (the same cases in PyTorch with cuDNN)
// on the same GPU; scripts/gpu_check.sh (profile bench) runs both. Built only with the CUDA backend; without
// a usable device every row is skipped with the reason ("no CUDA device: ...") and the binary exits 0.
//
//   ./build/benchmarks/bench_conv_cuda --benchmark_format=json
#include <benchmark/benchmark.h>

#include <exception>
#include <string>
#include <vector>

#include "benchmarks/conv_cases.h"
#include "core/autograd.h"
#include "core/device.h"
#include "core/ops.h"
#include "core/rng.h"

namespace {

using namespace gn;

using Case = bench::ConvCase;
using bench::kConvCases;
constexpr std::int64_t kBatch = 24;

double forward_flops(const Case& c) { return bench::conv_forward_flops(c, kBatch); }

void run(benchmark::State& state, const Case& c, bool with_backward) {
  if (!cuda_available()) {
    state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
    return;
  }
  const Device dev = cuda_device(0);
  Generator gen(1);
  Tensor x = Tensor::uniform({kBatch, c.channels, c.size, c.size}, gen, -1, 1, DType::Float32, dev);
  Tensor w = Tensor::uniform({c.channels, c.channels, 3, 3}, gen, -0.05, 0.05, DType::Float32, dev);
  Tensor b = Tensor::uniform({c.channels}, gen, -0.05, 0.05, DType::Float32, dev);
  const Tensor seed = Tensor::uniform({kBatch, c.channels, c.size, c.size}, gen, -1, 1, DType::Float32, dev);
  if (with_backward) {
    x.set_requires_grad();
    w.set_requires_grad();
    b.set_requires_grad();
  }
  const std::vector<Tensor> inputs{x, w, b};
  auto step = [&] {
    const Tensor y = conv2d(x, w, b, 1, 1);
    if (with_backward) {
      const auto grads = grad(std::span<const Tensor>(&y, 1), inputs, std::span<const Tensor>(&seed, 1));
      benchmark::DoNotOptimize(grads[1].raw_data());
    }
    benchmark::DoNotOptimize(y.raw_data());
  };
  try {  // warm-up: cuDNN's descriptors and algorithm (cached per shape), the workspace, the allocator
    step();
    synchronize(dev);
  } catch (const std::exception& e) {  // e.g. a build without cuDNN: DeviceContext::cudnn() says so
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state) {
    step();
    synchronize(dev);
  }
  const double flops = forward_flops(c) * (with_backward ? 3 : 1);
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Case& c : kConvCases) {
    const std::string name = std::to_string(c.channels) + "x" + std::to_string(c.size);
    benchmark::RegisterBenchmark(("conv2d_fwd/" + name).c_str(), [c](benchmark::State& s) { run(s, c, false); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("conv2d_fwd_bwd/" + name).c_str(), [c](benchmark::State& s) { run(s, c, true); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::AddCustomContext("batch", std::to_string(kBatch));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
