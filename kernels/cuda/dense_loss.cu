// CUDA dense-prediction losses (masked depth regression, surface-normal cosine) and the nearest resize of
// targets. Same per-pixel math as kernels/cpu/dense_loss.cpp (kernels/dense_loss_math.h, double
// throughout). Loss sums and valid counts are deterministic two-pass reductions (per-block partial slots,
// then one block adds them in a fixed order; see kernels/cuda/launch.cuh); the count stays on the device
// for the backward, so nothing here waits on the host.
#include "kernels/cuda/check.h"
#include "kernels/cuda/dense_loss.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/pool_geometry.h"

namespace gn::cuda {
namespace {

using I64 = std::int64_t;
using detail::grid_for;
using detail::grid_stride;
using detail::kReduceThreads;
using detail::kThreads;
using detail::thread_index;

// One position's contribution: its term, and whether it counts.
struct TermCount {
  double term;
  bool valid;
};

// Position i of a masked regression: element i.
template <class T>
struct MaskedTerm {
  MaskedPenalty k;
  const T* pred;
  const T* target;
  __device__ TermCount operator()(I64 i) const {
    const double t = static_cast<double>(target[i]);
    if (!depth_valid(t)) return {0.0, false};
    return {masked_term(k, static_cast<double>(pred[i]), t), true};
  }
};

// Position i of the (N, S) pixel grid of a normal map (N, C, S): channel c at off + c * S.
template <class T>
struct NormalTerm {
  I64 C, S;
  const T* pred;
  const T* target;
  __device__ TermCount operator()(I64 i) const {
    const I64 n = i / S, off = n * C * S + (i - n * S);
    const NormalPixel px = normal_pixel(pred + off, target + off, C, S);
    if (!normal_valid(px)) return {0.0, false};
    return {1.0 - normal_cos(px), true};
  }
};

// First pass: block b writes loss_partials[b] (sum of the valid terms, double) and count_partials[b]
// (valid positions). Launch with reduce_blocks(positions) x kReduceThreads.
template <class F>
__global__ void masked_partials_kernel(I64 positions, F f, double* loss_partials, long long* count_partials) {
  __shared__ double loss_buf[kReduceThreads];
  __shared__ long long count_buf[kReduceThreads];
  double loss = 0;
  long long count = 0;
  const I64 stride = static_cast<I64>(kReduceThreads) * gridDim.x;
  for (I64 i = static_cast<I64>(blockIdx.x) * kReduceThreads + threadIdx.x; i < positions; i += stride) {
    const TermCount tc = f(i);
    if (!tc.valid) continue;
    loss += tc.term;
    ++count;
  }
  loss = detail::block_sum(loss_buf, loss);
  count = detail::block_sum(count_buf, count);
  if (threadIdx.x == 0) {
    loss_partials[blockIdx.x] = loss;
    count_partials[blockIdx.x] = count;
  }
}

// Second pass, one block: adds the partials in a fixed order; out[0] = total / count (0 when nothing
// counted), counted[0] = count. Overwrites both.
template <class T>
__global__ void masked_finish_kernel(int blocks, const double* loss_partials, const long long* count_partials, T* out,
                                     I64* counted) {
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

// out[0], counted[0] for f over `positions` positions (none: 0 and 0).
template <class T, class F>
void masked_mean(I64 positions, F f, T* out, I64* counted, cudaStream_t s) {
  if (positions <= 0) {
    masked_finish_kernel<T><<<1, kReduceThreads, 0, s>>>(0, nullptr, nullptr, out, counted);
    GN_CUDA_CHECK_LAUNCH();
    return;
  }
  const int blocks = detail::reduce_blocks(positions);
  // Scratch: blocks doubles (loss partials), then blocks long longs (count partials); both 8-byte aligned.
  detail::StreamScratch scratch(static_cast<std::size_t>(blocks) * (sizeof(double) + sizeof(long long)), s);
  double* loss_partials = scratch.as<double>();
  long long* count_partials = scratch.as<long long>(static_cast<std::size_t>(blocks) * sizeof(double));
  masked_partials_kernel<F><<<blocks, kReduceThreads, 0, s>>>(positions, f, loss_partials, count_partials);
  GN_CUDA_CHECK_LAUNCH();
  masked_finish_kernel<T><<<1, kReduceThreads, 0, s>>>(blocks, loss_partials, count_partials, out, counted);
  GN_CUDA_CHECK_LAUNCH();
}

// g[0] / max(counted[0], 1), in double (every pixel it scales is valid, so counted[0] >= 1 there).
template <class T>
__device__ double upstream_scale(const T* g, const I64* counted) {
  const I64 cnt = counted[0] > 1 ? counted[0] : 1;
  return static_cast<double>(g[0]) / static_cast<double>(cnt);
}

template <class T>
__global__ void masked_regression_backward_kernel(MaskedPenalty k, I64 n, const T* pred, const T* target, const T* g,
                                                  const I64* counted, T* grad) {
  const double scale = upstream_scale(g, counted);
  for (I64 i = thread_index(); i < n; i += grid_stride()) {
    const double t = static_cast<double>(target[i]);
    grad[i] = depth_valid(t) ? static_cast<T>(scale * masked_term_grad(k, static_cast<double>(pred[i]), t)) : T(0);
  }
}

// One thread per pixel: writes the pixel's C gradient entries.
template <class T>
__global__ void normal_cosine_backward_kernel(I64 N, I64 C, I64 S, const T* pred, const T* target, const T* g,
                                              const I64* counted, T* grad) {
  const double scale = upstream_scale(g, counted);
  const I64 positions = N * S;
  for (I64 i = thread_index(); i < positions; i += grid_stride()) {
    const I64 n = i / S, off = n * C * S + (i - n * S);
    const T *p = pred + off, *t = target + off;
    T* gp = grad + off;
    const NormalPixel px = normal_pixel(p, t, C, S);
    const bool valid = normal_valid(px);
    for (I64 c = 0; c < C; ++c)
      gp[c * S] = valid ? static_cast<T>(scale * normal_term_grad(px, static_cast<double>(p[c * S]),
                                                                  static_cast<double>(t[c * S])))
                        : T(0);
  }
}

// One thread per output element; U is an unsigned integer as wide as the element (a bit copy).
template <class U>
__global__ void resize_nearest2d_kernel(I64 planes, I64 H, I64 W, I64 OH, I64 OW, const U* x, U* y) {
  const I64 total = planes * OH * OW;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 ow = i % OW, oh = (i / OW) % OH, p = i / (OW * OH);
    y[i] = x[(p * H + nearest_source(oh, H, OH)) * W + nearest_source(ow, W, OW)];
  }
}

}  // namespace

template <class T>
void masked_regression(MaskedPenalty k, I64 n, const T* pred, const T* target, T* out, I64* counted, Stream s) {
  masked_mean<T>(n, MaskedTerm<T>{k, pred, target}, out, counted, s);
}

template <class T>
void masked_regression_backward(MaskedPenalty k, I64 n, const T* pred, const T* target, const T* g, const I64* counted,
                                T* grad, Stream s) {
  if (n <= 0) return;
  masked_regression_backward_kernel<T><<<grid_for(n), kThreads, 0, s>>>(k, n, pred, target, g, counted, grad);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void normal_cosine(I64 N, I64 C, I64 S, const T* pred, const T* target, T* out, I64* counted, Stream s) {
  masked_mean<T>(N * S, NormalTerm<T>{C, S, pred, target}, out, counted, s);
}

template <class T>
void normal_cosine_backward(I64 N, I64 C, I64 S, const T* pred, const T* target, const T* g, const I64* counted,
                            T* grad, Stream s) {
  const I64 positions = N * S;
  if (positions <= 0 || C <= 0) return;
  normal_cosine_backward_kernel<T><<<grid_for(positions), kThreads, 0, s>>>(N, C, S, pred, target, g, counted, grad);
  GN_CUDA_CHECK_LAUNCH();
}

void resize_nearest2d(I64 planes, I64 H, I64 W, I64 OH, I64 OW, std::size_t elem, const void* x, void* y, Stream s) {
  const I64 total = planes * OH * OW;
  if (total <= 0) return;
  if (elem == 4) {
    resize_nearest2d_kernel<<<grid_for(total), kThreads, 0, s>>>(
        planes, H, W, OH, OW, static_cast<const std::uint32_t*>(x), static_cast<std::uint32_t*>(y));
  } else {
    GN_CHECK(elem == 8, "resize_nearest2d: element size {} is not supported (4 or 8 bytes)", elem);
    resize_nearest2d_kernel<<<grid_for(total), kThreads, 0, s>>>(
        planes, H, W, OH, OW, static_cast<const std::uint64_t*>(x), static_cast<std::uint64_t*>(y));
  }
  GN_CUDA_CHECK_LAUNCH();
}

#define GN_INSTANTIATE(T)                                                                                       \
  template void masked_regression<T>(MaskedPenalty, I64, const T*, const T*, T*, I64*, Stream);                 \
  template void masked_regression_backward<T>(MaskedPenalty, I64, const T*, const T*, const T*, const I64*, T*, \
                                              Stream);                                                          \
  template void normal_cosine<T>(I64, I64, I64, const T*, const T*, T*, I64*, Stream);                          \
  template void normal_cosine_backward<T>(I64, I64, I64, const T*, const T*, const T*, const I64*, T*, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda
