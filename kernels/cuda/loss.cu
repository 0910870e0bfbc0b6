// CUDA losses: mean squared error and (spatial) cross-entropy, forward and backward. Same math as
// kernels/cpu/loss.cpp. Loss values, counts and upstream gradients stay in device memory, so a training
// step never waits on the host. Sums are deterministic (per-block partial slots, then one block adds them
// in a fixed order; see kernels/cuda/launch.cuh).
#include <cuda/std/limits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/loss.h"

namespace gn::cuda {
namespace {

using detail::grid_for;
using detail::grid_stride;
using detail::kReduceThreads;
using detail::kThreads;
using detail::thread_index;

// ---- mean squared error ---------------------------------------------------------------------------

// f(i) = (pred[i] - target[i])^2, accumulated in T.
template <class T>
struct SquaredDiff {
  const T* pred;
  const T* target;
  __device__ T operator()(std::int64_t i) const {
    const T d = pred[i] - target[i];
    return d * d;
  }
};

// grad[i] = (2 g[0] / n) (pred[i] - target[i]), the factor formed as kernels/cpu/loss.cpp forms it.
template <class T>
__global__ void mse_backward_kernel(std::int64_t n, const T* pred, const T* target, const T* g, T* grad) {
  const T k = T(2) * g[0] / static_cast<T>(n);
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) grad[i] = k * (pred[i] - target[i]);
}

// ---- cross-entropy --------------------------------------------------------------------------------

// Position i of the (N, S) grid: logits of class c at z[c * S], z = logits + (i / S) * C * S + i % S.
// max and log-sum-exp over the C classes in double, as the CPU reference does.
template <class T>
__device__ void logit_stats(const T* z, std::int64_t C, std::int64_t S, double* mx_out, double* se_out) {
  double mx = -::cuda::std::numeric_limits<double>::infinity();
  for (std::int64_t c = 0; c < C; ++c) mx = fmax(mx, static_cast<double>(z[c * S]));
  double se = 0;
  for (std::int64_t c = 0; c < C; ++c) se += exp(static_cast<double>(z[c * S]) - mx);
  *mx_out = mx;
  *se_out = se;
}

// First pass over the N * S positions: block b writes loss_partials[b] (sum of -log softmax at counted
// positions, in double) and count_partials[b] (positions with a valid label). A label outside [0, C) that
// is not ignore_index sets *bad_label = 1 (a plain store of a constant: idempotent, so the order of
// concurrent stores does not matter) and is skipped. Launch with reduce_blocks(N * S) x kReduceThreads.
template <class T>
__global__ void cross_entropy_partials_kernel(std::int64_t positions, std::int64_t C, std::int64_t S, const T* logits,
                                              const std::int64_t* labels, std::int64_t ignore_index,
                                              double* loss_partials, long long* count_partials, int* bad_label) {
  __shared__ double loss_buf[kReduceThreads];
  __shared__ long long count_buf[kReduceThreads];
  double loss = 0;
  long long count = 0;
  const std::int64_t stride = static_cast<std::int64_t>(kReduceThreads) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kReduceThreads + threadIdx.x; i < positions;
       i += stride) {
    const std::int64_t label = labels[i];
    if (label == ignore_index) continue;
    if (label < 0 || label >= C) {
      *bad_label = 1;
      continue;
    }
    const std::int64_t n = i / S, s = i - n * S;
    const T* z = logits + n * C * S + s;
    double mx, se;
    logit_stats(z, C, S, &mx, &se);
    loss += log(se) + mx - static_cast<double>(z[label * S]);
    ++count;
  }
  loss = detail::block_sum(loss_buf, loss);
  count = detail::block_sum(count_buf, count);
  if (threadIdx.x == 0) {
    loss_partials[blockIdx.x] = loss;
    count_partials[blockIdx.x] = count;
  }
}

// Second pass, one block: adds the `blocks` partials in a fixed order; out[0] = total / count (0 when no
// position counted), counted[0] = count. Overwrites both.
template <class T>
__global__ void cross_entropy_finish_kernel(int blocks, const double* loss_partials, const long long* count_partials,
                                            T* out, std::int64_t* counted) {
  __shared__ double loss_buf[kReduceThreads];
  __shared__ long long count_buf[kReduceThreads];
  double loss = 0;
  long long count = 0;
  for (int b = threadIdx.x; b < blocks; b += kReduceThreads) {
    loss += loss_partials[b];
    count += count_partials[b];
  }
  loss = detail::block_sum(loss_buf, loss);
  count = detail::block_sum(count_buf, count);
  if (threadIdx.x == 0) {
    out[0] = count > 0 ? static_cast<T>(loss / static_cast<double>(count)) : T(0);
    counted[0] = count;
  }
}

// One thread per position: grad[:, c at the position] = scale * (softmax_c - [c == label]) with
// scale = g[0] / max(counted[0], 1) (formed in T, as the CPU caller forms it); zeros at ignored positions
// and at invalid labels (the forward pass flagged those). Overwrites every element of grad.
template <class T>
__global__ void cross_entropy_backward_kernel(std::int64_t positions, std::int64_t C, std::int64_t S, const T* logits,
                                              const std::int64_t* labels, std::int64_t ignore_index, const T* g,
                                              const std::int64_t* counted, T* grad) {
  const std::int64_t cnt = counted[0] > 1 ? counted[0] : 1;
  const double scale = static_cast<double>(g[0] / static_cast<T>(cnt));
  for (std::int64_t i = thread_index(); i < positions; i += grid_stride()) {
    const std::int64_t n = i / S, s = i - n * S;
    const T* z = logits + n * C * S + s;
    T* gz = grad + n * C * S + s;
    const std::int64_t label = labels[i];
    if (label == ignore_index || label < 0 || label >= C) {
      for (std::int64_t c = 0; c < C; ++c) gz[c * S] = T(0);
      continue;
    }
    double mx, se;
    logit_stats(z, C, S, &mx, &se);
    for (std::int64_t c = 0; c < C; ++c) {
      const double p = exp(static_cast<double>(z[c * S]) - mx) / se;
      gz[c * S] = static_cast<T>(scale * (p - (c == label ? 1.0 : 0.0)));
    }
  }
}

}  // namespace

template <class T>
void mse(std::int64_t n, const T* pred, const T* target, T* out, Stream s) {
  const T inv_n = n > 0 ? T(1) / static_cast<T>(n) : T(0);
  detail::deterministic_sum<T, T>(n, SquaredDiff<T>{pred, target}, inv_n, out, s);
}

template <class T>
void mse_backward(std::int64_t n, const T* pred, const T* target, const T* g, T* grad, Stream s) {
  if (n <= 0) return;
  mse_backward_kernel<T><<<grid_for(n), kThreads, 0, s>>>(n, pred, target, g, grad);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void cross_entropy(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                   std::int64_t ignore_index, T* out, std::int64_t* counted, int* bad_label, Stream s) {
  GN_CUDA_CHECK(cudaMemsetAsync(bad_label, 0, sizeof(int), s));
  const std::int64_t positions = N * S;
  if (positions <= 0) {
    cross_entropy_finish_kernel<T><<<1, kReduceThreads, 0, s>>>(0, nullptr, nullptr, out, counted);
    GN_CUDA_CHECK_LAUNCH();
    return;
  }
  const int blocks = detail::reduce_blocks(positions);
  // Scratch: blocks doubles (loss partials), then blocks long longs (count partials); both 8-byte aligned.
  detail::StreamScratch scratch(static_cast<std::size_t>(blocks) * (sizeof(double) + sizeof(long long)), s);
  double* loss_partials = scratch.as<double>();
  long long* count_partials = scratch.as<long long>(static_cast<std::size_t>(blocks) * sizeof(double));
  cross_entropy_partials_kernel<T><<<blocks, kReduceThreads, 0, s>>>(positions, C, S, logits, labels, ignore_index,
                                                                     loss_partials, count_partials, bad_label);
  GN_CUDA_CHECK_LAUNCH();
  cross_entropy_finish_kernel<T><<<1, kReduceThreads, 0, s>>>(blocks, loss_partials, count_partials, out, counted);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void cross_entropy_backward(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                            std::int64_t ignore_index, const T* g, const std::int64_t* counted, T* grad, Stream s) {
  const std::int64_t positions = N * S;
  if (positions <= 0 || C <= 0) return;
  cross_entropy_backward_kernel<T>
      <<<grid_for(positions), kThreads, 0, s>>>(positions, C, S, logits, labels, ignore_index, g, counted, grad);
  GN_CUDA_CHECK_LAUNCH();
}

#define GN_INSTANTIATE(T)                                                                                          \
  template void mse<T>(std::int64_t, const T*, const T*, T*, Stream);                                              \
  template void mse_backward<T>(std::int64_t, const T*, const T*, const T*, T*, Stream);                           \
  template void cross_entropy<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const std::int64_t*,          \
                                 std::int64_t, T*, std::int64_t*, int*, Stream);                                   \
  template void cross_entropy_backward<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const std::int64_t*, \
                                          std::int64_t, const T*, const std::int64_t*, T*, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda
