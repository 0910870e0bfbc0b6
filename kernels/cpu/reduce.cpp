#include "kernels/cpu/reduce.h"

#include <vector>

#include "kernels/cpu/threads.h"

namespace gn::cpu {

template <class T>
double sum_all(std::int64_t n, const T* x) {
  const std::int64_t blocks = (n + kReduceBlock - 1) / kReduceBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks));
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t end = std::min(n, (blk + 1) * kReduceBlock);
    double acc = 0;
    for (std::int64_t i = blk * kReduceBlock; i < end; ++i) acc += x[i];
    partial[blk] = acc;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

template <class T>
void sum_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T* out) {
  if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * n > kParallelGrain)
    for (std::int64_t o = 0; o < outer; ++o) {
      double acc = 0;
      for (std::int64_t k = 0; k < n; ++k) acc += x[o * n + k];
      out[o] = static_cast<T>(acc);
    }
    return;
  }
  // Rows of the middle axis are added one after another into a double row: contiguous, vectorisable.
#pragma omp parallel if (outer * n * inner > kParallelGrain)
  {
    std::vector<double> acc(static_cast<std::size_t>(inner));
#pragma omp for schedule(static)
    for (std::int64_t o = 0; o < outer; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::int64_t k = 0; k < n; ++k) {
        const T* row = x + (o * n + k) * inner;
        for (std::int64_t i = 0; i < inner; ++i) acc[i] += row[i];
      }
      for (std::int64_t i = 0; i < inner; ++i) out[o * inner + i] = static_cast<T>(acc[i]);
    }
  }
}

template <class T>
void broadcast_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T s, T* out) {
#pragma omp parallel for schedule(static) if (outer * n * inner > kParallelGrain)
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < n; ++k)
      for (std::int64_t i = 0; i < inner; ++i) out[(o * n + k) * inner + i] = x[o * inner + i] * s;
}

#define GN_INSTANTIATE(T)                                                            \
  template double sum_all<T>(std::int64_t, const T*);                                \
  template void sum_axis<T>(std::int64_t, std::int64_t, std::int64_t, const T*, T*); \
  template void broadcast_axis<T>(std::int64_t, std::int64_t, std::int64_t, const T*, T, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
