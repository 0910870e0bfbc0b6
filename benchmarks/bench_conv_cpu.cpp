// conv2d on the CPU (im2col + Eigen GEMM, kernels/cpu/conv.cpp) through the autograd op, float32, 3x3,
// stride 1, padding 1, with bias, batch 2, at the VGG-style sizes 64->64 @160x160, 128->128 @80x80,
// 256->256 @40x40 and 512->512 @20x20 (the same 3.8 GFLOP per forward each). Two rows per size:
// forward alone, and forward + backward (input, weight and bias gradients; 3x the forward's FLOPs).
// GFLOPs = 2 B C_out C_in kH kW H_out W_out per forward (multiply-adds counted as 2), per wall second.
// Compare with benchmarks/conv_torch.py (the same cases in PyTorch).
//
//   ./build/benchmarks/bench_conv_cpu                      # 1 thread (GN_BENCH_THREADS=n for more)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "benchmarks/conv_cases.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "kernels/cpu/threads.h"

namespace {

using namespace gn;

using Case = bench::ConvCase;
using bench::kConvCases;
constexpr std::int64_t kBatch = 2;

double forward_flops(const Case& c) { return bench::conv_forward_flops(c, kBatch); }

void run(benchmark::State& state, const Case& c, bool with_backward) {
  Generator gen(1);
  Tensor x = Tensor::uniform({kBatch, c.channels, c.size, c.size}, gen, -1, 1);
  Tensor w = Tensor::uniform({c.channels, c.channels, 3, 3}, gen, -0.05, 0.05);
  Tensor b = Tensor::uniform({c.channels}, gen, -0.05, 0.05);
  const Tensor seed = Tensor::uniform({kBatch, c.channels, c.size, c.size}, gen, -1, 1);
  if (with_backward) {
    x.set_requires_grad();
    w.set_requires_grad();
    b.set_requires_grad();
  }
  for (auto _ : state) {
    const Tensor y = conv2d(x, w, b, 1, 1);
    if (with_backward) {
      const std::vector<Tensor> inputs{x, w, b};
      const auto grads = grad(std::span<const Tensor>(&y, 1), inputs, std::span<const Tensor>(&seed, 1));
      benchmark::DoNotOptimize(grads[1].raw_data());
    }
    benchmark::DoNotOptimize(y.raw_data());
  }
  const double flops = forward_flops(c) * (with_backward ? 3 : 1);
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("GN_BENCH_THREADS");
  cpu::set_num_threads(env != nullptr ? std::atoi(env) : 1);
  for (const Case& c : kConvCases) {
    const std::string name = std::to_string(c.channels) + "x" + std::to_string(c.size);
    benchmark::RegisterBenchmark(("conv2d_fwd/" + name).c_str(), [c](benchmark::State& s) { run(s, c, false); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("conv2d_fwd_bwd/" + name).c_str(), [c](benchmark::State& s) { run(s, c, true); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
