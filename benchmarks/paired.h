#pragma once
// Two variants timed one by one, interleaved in the same benchmark loop, so slow drifts of a shared
// machine hit both alike: reports each one's median (ms) and the median of the per-pair ratios b / a.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
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
  auto timed = [](auto& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> a_ms, b_ms, ratio;
  for (auto _ : state) {
    a_ms.push_back(timed(a));
    b_ms.push_back(timed(b));
    ratio.push_back(b_ms.back() / a_ms.back());
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  state.counters[a_name + "_ms"] = median(a_ms);
  state.counters[b_name + "_ms"] = median(b_ms);
  state.counters[b_name + "_over_" + a_name] = median(ratio);
}

}  // namespace gn::bench
