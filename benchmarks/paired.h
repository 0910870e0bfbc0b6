#pragma once
// Two variants timed one by one, interleaved in the same benchmark loop, so slow drifts of a shared
// machine hit both alike: reports each one's median (ms) and the median of the per-pair ratios b / a, in
// wall time and (counters ending in _cpu) in process CPU time, all threads. On a machine whose cores are
// shared with other jobs the CPU figures are the steadier ones: wall time includes waiting for a core.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/adam.h"

namespace gn::bench {

// One model with its weighting, Adam and step: what each side of a paired benchmark trains.
struct StepRun {
  std::shared_ptr<multitask::MultitaskModel> model;
  std::unique_ptr<multitask::LossWeighting> weighting;
  std::unique_ptr<nn::Adam> opt;
  std::unique_ptr<multitask::MultitaskStep> step;

  StepRun(std::shared_ptr<multitask::MultitaskModel> m, const std::string& method,
          const multitask::WeightingConfig& cfg, double lr)
      : model(std::move(m)),
        weighting(multitask::make_weighting(method, model->num_tasks(), cfg)),
        opt(std::make_unique<nn::Adam>(model->parameters(), lr)),
        step(std::make_unique<multitask::MultitaskStep>(*model, *weighting, *opt)) {}
};

template <class A, class B>
void run_paired(benchmark::State& state, const std::string& a_name, A&& a, const std::string& b_name, B&& b) {
  auto cpu_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
  };
  struct Times {
    double wall, cpu;
  };
  auto timed = [&](auto& f) {
    const double c0 = cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return Times{wall, cpu_ms() - c0};
  };
  std::vector<double> a_ms, b_ms, ratio, a_cpu, b_cpu, ratio_cpu;
  for (auto _ : state) {
    const Times ta = timed(a), tb = timed(b);
    a_ms.push_back(ta.wall);
    b_ms.push_back(tb.wall);
    ratio.push_back(tb.wall / ta.wall);
    a_cpu.push_back(ta.cpu);
    b_cpu.push_back(tb.cpu);
    ratio_cpu.push_back(tb.cpu / ta.cpu);
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  state.counters[a_name + "_ms"] = median(a_ms);
  state.counters[b_name + "_ms"] = median(b_ms);
  state.counters[b_name + "_over_" + a_name] = median(ratio);
  state.counters[a_name + "_ms_cpu"] = median(a_cpu);
  state.counters[b_name + "_ms_cpu"] = median(b_cpu);
  state.counters[b_name + "_over_" + a_name + "_cpu"] = median(ratio_cpu);
}

}  // namespace gn::bench
