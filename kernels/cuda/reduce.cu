// CUDA sum reductions: sum_all (deterministic two-pass, see kernels/cuda/launch.cuh), sum_axis (one thread
// per output, adding the middle axis in order) and broadcast_axis (its adjoint). Accumulation is in T:
// float for float32, double for float64. Every result is a function of the input alone (no atomics).
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/reduce.h"

namespace gn::cuda {
namespace {

using detail::grid_for;
using detail::grid_stride;
using detail::kThreads;
using detail::thread_index;

// f(i) = x[i], the element functor of sum_all.
template <class T>
struct Load {
  const T* x;
  __device__ T operator()(std::int64_t i) const { return x[i]; }
};

// x (outer, n, inner) -> out (outer, inner): out[o, j] = scale * sum_k x[o, k, j], k in increasing order.
// One thread per output element; neighbouring threads read neighbouring j (coalesced when inner > 1).
template <class T>
__global__ void sum_axis_kernel(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale, T* out) {
  const std::int64_t total = outer * inner;
  for (std::int64_t i = thread_index(); i < total; i += grid_stride()) {
    const std::int64_t o = i / inner, j = i - o * inner;
    const T* col = x + o * n * inner + j;
    T acc = T(0);
    for (std::int64_t k = 0; k < n; ++k) acc += col[k * inner];
    out[i] = acc * scale;
  }
}

// out (outer, n, inner) = scale * x (outer, inner) repeated along the middle axis.
template <class T>
__global__ void broadcast_axis_kernel(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale,
                                      T* out) {
  const std::int64_t total = outer * n * inner;
  for (std::int64_t i = thread_index(); i < total; i += grid_stride()) {
    const std::int64_t j = i % inner;
    const std::int64_t o = i / inner / n;
    out[i] = x[o * inner + j] * scale;
  }
}

}  // namespace

template <class T>
void sum_all(std::int64_t n, const T* x, T scale, T* out, Stream s) {
  detail::deterministic_sum<T, T>(n, Load<T>{x}, scale, out, s);
}

template <class T>
void sum_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale, T* out, Stream s) {
  const std::int64_t total = outer * inner;
  if (total <= 0) return;
  sum_axis_kernel<T><<<grid_for(total), kThreads, 0, s>>>(outer, n, inner, x, scale, out);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void broadcast_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale, T* out, Stream s) {
  const std::int64_t total = outer * n * inner;
  if (total <= 0) return;
  broadcast_axis_kernel<T><<<grid_for(total), kThreads, 0, s>>>(outer, n, inner, x, scale, out);
  GN_CUDA_CHECK_LAUNCH();
}

#define GN_INSTANTIATE(T)                                                                       \
  template void sum_all<T>(std::int64_t, const T*, T, T*, Stream);                              \
  template void sum_axis<T>(std::int64_t, std::int64_t, std::int64_t, const T*, T, T*, Stream); \
  template void broadcast_axis<T>(std::int64_t, std::int64_t, std::int64_t, const T*, T, T*, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda
