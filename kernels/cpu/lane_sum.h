#pragma once
// Sums in double over 16 interleaved accumulators: lane k takes the elements at positions = k mod 16 of each
// run added, then the lanes are added in order. A fixed order (reproducible, independent of the thread
// count) that vectorises, where one running sum is bound by the latency of a dependent add per element.
#include <cstdint>

namespace gn::cpu {

struct Lanes {
  static constexpr int kLanes = 16;
  double acc[kLanes] = {};

  // acc += f(x[i]) (as double) for i in [0, n).
  template <class T, class F>
  void add(const T* x, std::int64_t n, F f) {
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] += f(static_cast<double>(x[i + k]));
    for (int k = 0; i < n; ++i, ++k) acc[k] += f(static_cast<double>(x[i]));
  }
  template <class T>
  void add(const T* x, std::int64_t n) {
    add(x, n, [](double v) { return v; });
  }

  double total() const {
    double t = 0;
    for (double a : acc) t += a;
    return t;
  }
};

}  // namespace gn::cpu
