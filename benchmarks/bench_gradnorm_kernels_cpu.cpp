// Memory bandwidth of the GradNorm CPU reference kernels (kernels/cpu/task_norms, weighted_loss,
// gradnorm_update), each next to a memcpy baseline that moves the same number of bytes, measured in the
// same run (ratios are taken within one run: these machines are shared and noisy).
//
//   ./build/benchmarks/bench_gradnorm_kernels_cpu --benchmark_min_time=0.2
//
// "bytes" = the bytes a kernel must move: inputs read once plus outputs written once (the same count
// the GPU kernel lab uses). GBps = bytes / time, decimal GB. The memcpy row for a case copies bytes / 2
// (so it reads bytes / 2 and writes bytes / 2: the same traffic, and the same working set as a
// reduction over `bytes`). Single thread: the reference kernels are plain loops. Wall-clock time
// (UseRealTime): bandwidth is bytes per elapsed second. Medians over repetitions:
//   --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Sizes: the toy's 100x100 W with T = 2, 5, 10 (per-task norms over W and bias; the (B=100, D=100)
// combine and MSE), up to ~50M floats.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"

namespace {

using namespace gn;

template <class T>
std::vector<T> normal_values(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<T> v(static_cast<std::size_t>(n));
  // Fill a block of random values and repeat it: generating 50M normals would dominate the setup.
  const std::size_t block = std::min<std::size_t>(v.size(), 1 << 16);
  for (std::size_t i = 0; i < block; ++i) v[i] = static_cast<T>(d(gen));
  for (std::size_t i = block; i < v.size(); ++i) v[i] = v[i - block];
  return v;
}

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "f32" : "f64";
}

void set_bytes(benchmark::State& state, double bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["GBps"] = benchmark::Counter(bytes * static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);  // per wall second (UseRealTime)
  state.counters["MB"] = bytes / 1e6;
}

// The baseline: std::memcpy of bytes / 2.
void register_memcpy(const std::string& name, double bytes) {
  benchmark::RegisterBenchmark(("memcpy/" + name).c_str(), [bytes](benchmark::State& state) {
    const auto half = static_cast<std::size_t>(bytes / 2);
    std::vector<char> src(half, 1), dst(half, 0);
    for (auto _ : state) {
      std::memcpy(dst.data(), src.data(), half);
      benchmark::DoNotOptimize(dst.data());
      benchmark::ClobberMemory();
    }
    set_bytes(state, bytes);
  })->UseRealTime();
}

// per_task_sq_norms over T tasks, each a weight piece and a bias piece (as the training step passes).
template <class T>
void register_task_norms(const std::string& shape, int tasks, std::int64_t weight, std::int64_t bias) {
  const std::int64_t total = (weight + bias) * tasks;
  const double bytes = static_cast<double>(total) * sizeof(T);
  const std::string name = std::string("task_norms/") + dtype_name<T>() + "/T:" + std::to_string(tasks) + "/" + shape;
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    const std::vector<T> data = normal_values<T>(total, 1);
    std::vector<cpu::TaskPiece<T>> pieces;
    for (int t = 0; t < tasks; ++t) pieces.push_back({t, data.data() + t * weight, weight});
    for (int t = 0; t < tasks; ++t) pieces.push_back({t, data.data() + tasks * weight + t * bias, bias});
    std::vector<double> sq(tasks);
    const auto flags = std::make_unique<bool[]>(tasks);
    for (auto _ : state) {
      cpu::per_task_sq_norms<T>(tasks, pieces, sq.data(), flags.get());
      benchmark::DoNotOptimize(sq.data());
    }
    set_bytes(state, bytes);
  })->UseRealTime();
  register_memcpy(name, bytes);
}

// combine_task_blocks: deltas (B, T*D) -> out (B, D), weighted.
template <class T>
void register_combine(std::int64_t B, std::int64_t D, int tasks) {
  const double bytes = static_cast<double>(B * tasks * D + B * D) * sizeof(T);
  const std::string name = std::string("combine/") + dtype_name<T>() + "/T:" + std::to_string(tasks) +
                           "/B:" + std::to_string(B) + "_D:" + std::to_string(D);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    const std::vector<T> deltas = normal_values<T>(B * tasks * D, 2);
    std::vector<T> w(tasks, T(0.5)), out(B * D);
    for (auto _ : state) {
      cpu::combine_task_blocks<T>(B, tasks, D, deltas.data(), w.data(), out.data());
      benchmark::DoNotOptimize(out.data());
      benchmark::ClobberMemory();
    }
    set_bytes(state, bytes);
  })->UseRealTime();
  register_memcpy(name, bytes);
}

// multitask_mse: T tasks of n elements: read pred and target, write grad (3 words per element).
template <class T>
void register_mse(const std::string& shape, std::int64_t n, int tasks) {
  const double bytes = 3.0 * static_cast<double>(n * tasks) * sizeof(T);
  const std::string name =
      std::string("multitask_mse/") + dtype_name<T>() + "/T:" + std::to_string(tasks) + "/" + shape;
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    const std::vector<T> pred = normal_values<T>(n * tasks, 3), target = normal_values<T>(n * tasks, 4);
    std::vector<T> grad(n * tasks), w(tasks, T(1));
    std::vector<const T*> p(tasks), y(tasks);
    std::vector<T*> g(tasks);
    for (int t = 0; t < tasks; ++t) {
      p[t] = pred.data() + t * n;
      y[t] = target.data() + t * n;
      g[t] = grad.data() + t * n;
    }
    std::vector<double> losses(tasks);
    for (auto _ : state) {
      cpu::multitask_mse<T>(tasks, n, p.data(), y.data(), w.data(), losses.data(), g.data());
      benchmark::DoNotOptimize(losses.data());
      benchmark::ClobberMemory();
    }
    set_bytes(state, bytes);
  })->UseRealTime();
  register_memcpy(name, bytes);
}

// The weight update itself (T numbers; latency, not bandwidth), for scale.
void register_update(int tasks) {
  benchmark::RegisterBenchmark(("gradnorm_update/T:" + std::to_string(tasks)).c_str(), [=](benchmark::State& state) {
    std::vector<double> L(tasks), L0(tasks), G(tasks), w(tasks, 1.0), r(tasks), ir(tasks), tg(tasks), dw(tasks);
    for (int i = 0; i < tasks; ++i) {
      L[i] = 0.5 + 0.1 * i;
      L0[i] = 1.0 + 0.2 * i;
      G[i] = 0.3 + 0.05 * i;
    }
    for (auto _ : state) {
      const double lgrad = cpu::gradnorm_weight_grad(tasks, L.data(), L0.data(), G.data(), w.data(), 0.12,
                                                     {r.data(), ir.data(), tg.data(), dw.data()});
      cpu::renormalize_weights<double>(tasks, w.data(), 1e-4);
      benchmark::DoNotOptimize(lgrad);
    }
  })->UseRealTime();
}

void register_all() {
  const std::int64_t M = 1 << 20;
  for (int t : {2, 5, 10}) register_task_norms<float>("100x100_W+100_bias", t, 100 * 100, 100);
  for (const std::int64_t total : {1 * M, 8 * M, std::int64_t{50'000'000}})
    for (int t : {2, 10}) {
      const std::string shape = std::to_string(total) + "_total";
      register_task_norms<float>(shape, t, total / t - 1000, 1000);
    }
  for (int t : {2, 10}) register_task_norms<double>("100x100_W+100_bias", t, 100 * 100, 100);
  register_task_norms<double>(std::to_string(8 * M) + "_total", 10, 8 * M / 10 - 1000, 1000);

  register_combine<float>(100, 100, 2);
  register_combine<float>(100, 100, 10);
  register_combine<float>(1024, 1024, 4);
  register_combine<float>(4096, 1024, 10);
  register_combine<double>(100, 100, 10);

  register_mse<float>("100x100", 100 * 100, 2);
  register_mse<float>("100x100", 100 * 100, 10);
  register_mse<float>("1M_per_task", M, 4);
  register_mse<float>("5M_per_task", 5'000'000, 10);
  register_mse<double>("100x100", 100 * 100, 10);

  for (int t : {2, 10}) register_update(t);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
