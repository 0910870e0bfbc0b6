// CUDA pooling, unpooling, upsampling and batch norm (NCHW); the math of kernels/cpu/pool.cpp, with the
// geometry shared through kernels/pool_geometry.h. Every backward is a gather (one thread per input element,
// a fixed loop order), and batch-norm statistics are fixed-shape two-pass reductions: no float atomics, so
// a run gives the same bits twice. Every launch runs on the caller's stream and is checked.
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pool.h"

namespace gn::cuda {
namespace {

using detail::grid_for;
using detail::grid_stride;
using detail::kThreads;
using detail::thread_index;
using I64 = std::int64_t;

__device__ inline I64 imax(I64 a, I64 b) { return a > b ? a : b; }
__device__ inline I64 imin(I64 a, I64 b) { return a < b ? a : b; }

template <class T>
__device__ inline bool is_nan(T v) {
  return v != v;
}

// ---- max pooling --------------------------------------------------------------------------------------

template <class T>
__global__ void max_pool2d_kernel(Pool2dGeometry g, const T* x, T* y, I64* idx) {
  const I64 total = g.planes * g.OH * g.OW;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 ow = i % g.OW, oh = (i / g.OW) % g.OH, p = i / (g.OW * g.OH);
    const I64 h0 = imax(oh * g.sh - g.ph, I64(0)), h1 = imin(oh * g.sh - g.ph + g.kh, g.H);
    const I64 w0 = imax(ow * g.sw - g.pw, I64(0)), w1 = imin(ow * g.sw - g.pw + g.kw, g.W);
    const T* xp = x + p * g.H * g.W;
    T best = -static_cast<T>(INFINITY);
    I64 arg = h0 * g.W + w0;
    for (I64 h = h0; h < h1; ++h)
      for (I64 w = w0; w < w1; ++w) {
        const T v = xp[h * g.W + w];
        if (v > best || is_nan(v)) {
          best = v;
          arg = h * g.W + w;
        }
      }
    y[i] = best;
    idx[i] = arg;
  }
}

// gx[p, h, w] = sum of gy[p, oh, ow] over the windows covering (h, w) whose argmax is (h, w), in row-major
// window order.
template <class T>
__global__ void max_pool2d_backward_kernel(Pool2dGeometry g, const T* gy, const I64* idx, T* gx) {
  const I64 total = g.planes * g.H * g.W;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 w = i % g.W, h = (i / g.W) % g.H, p = i / (g.W * g.H);
    // Windows oh with oh*sh - ph <= h < oh*sh - ph + kh.
    const I64 oh0 = h + g.ph < g.kh ? 0 : (h + g.ph - g.kh) / g.sh + 1;
    const I64 oh1 = imin((h + g.ph) / g.sh, g.OH - 1);
    const I64 ow0 = w + g.pw < g.kw ? 0 : (w + g.pw - g.kw) / g.sw + 1;
    const I64 ow1 = imin((w + g.pw) / g.sw, g.OW - 1);
    const I64 target = h * g.W + w;
    const T* gyp = gy + p * g.OH * g.OW;
    const I64* ip = idx + p * g.OH * g.OW;
    T acc = T(0);
    for (I64 oh = oh0; oh <= oh1; ++oh)
      for (I64 ow = ow0; ow <= ow1; ++ow)
        if (ip[oh * g.OW + ow] == target) acc += gyp[oh * g.OW + ow];
    gx[i] = acc;
  }
}

// ---- max unpooling ------------------------------------------------------------------------------------

template <class T>
__global__ void fill_zero_kernel(I64 n, T* a) {
  for (I64 i = thread_index(); i < n; i += grid_stride()) a[i] = T(0);
}

// y[p, idx[i]] = x[i]; indices outside the plane are skipped. Repeated indices (overlapping max-pool windows)
// carry the same input value, so the result does not depend on which write lands last.
template <class T>
__global__ void max_unpool2d_scatter_kernel(I64 planes, I64 in_plane, I64 out_plane, const T* x, const I64* idx, T* y) {
  const I64 total = planes * in_plane;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 j = idx[i];
    if (j >= 0 && j < out_plane) y[(i / in_plane) * out_plane + j] = x[i];
  }
}

template <class T>
__global__ void max_unpool2d_backward_kernel(I64 planes, I64 in_plane, I64 out_plane, const T* gy, const I64* idx,
                                             T* gx) {
  const I64 total = planes * in_plane;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 j = idx[i];
    gx[i] = j >= 0 && j < out_plane ? gy[(i / in_plane) * out_plane + j] : T(0);
  }
}

// ---- upsampling ---------------------------------------------------------------------------------------

// First output position o in [0, out) whose nearest source is >= i (out if none): binary search over the
// non-decreasing map o -> nearest_source(o).
__device__ inline I64 first_nearest_at_least(I64 i, I64 in, I64 out) {
  I64 lo = 0, hi = out;
  while (lo < hi) {
    const I64 mid = lo + (hi - lo) / 2;
    if (nearest_source(mid, in, out) >= i)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}
// Same for the first tap of linear interpolation (also non-decreasing in o).
template <class T>
__device__ inline I64 first_tap_at_least(I64 i, I64 in, I64 out, bool ac) {
  I64 lo = 0, hi = out;
  while (lo < hi) {
    const I64 mid = lo + (hi - lo) / 2;
    if (linear_taps<T>(mid, in, out, ac).i0 >= i)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

template <class T>
__global__ void upsample_nearest2d_kernel(I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* x, T* y) {
  const I64 total = planes * OH * OW;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 ow = i % OW, oh = (i / OW) % OH, p = i / (OW * OH);
    y[i] = x[(p * H + nearest_source(oh, H, OH)) * W + nearest_source(ow, W, OW)];
  }
}

template <class T>
__global__ void upsample_nearest2d_backward_kernel(I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* gy, T* gx) {
  const I64 total = planes * H * W;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 w = i % W, h = (i / W) % H, p = i / (W * H);
    const I64 oh0 = first_nearest_at_least(h, H, OH), oh1 = first_nearest_at_least(h + 1, H, OH);
    const I64 ow0 = first_nearest_at_least(w, W, OW), ow1 = first_nearest_at_least(w + 1, W, OW);
    const T* gyp = gy + p * OH * OW;
    T acc = T(0);
    for (I64 oh = oh0; oh < oh1; ++oh)
      for (I64 ow = ow0; ow < ow1; ++ow) acc += gyp[oh * OW + ow];
    gx[i] = acc;
  }
}

template <class T>
__global__ void upsample_bilinear2d_kernel(I64 planes, I64 H, I64 W, I64 OH, I64 OW, bool ac, const T* x, T* y) {
  const I64 total = planes * OH * OW;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 ow = i % OW, oh = (i / OW) % OH, p = i / (OW * OH);
    const LinearTaps<T> th = linear_taps<T>(oh, H, OH, ac), t = linear_taps<T>(ow, W, OW, ac);
    const T* r0 = x + (p * H + th.i0) * W;
    const T* r1 = x + (p * H + th.i1) * W;
    y[i] = th.l0 * (t.l0 * r0[t.i0] + t.l1 * r0[t.i1]) + th.l1 * (t.l0 * r1[t.i0] + t.l1 * r1[t.i1]);
  }
}

// Weight of input position i in the interpolation at output position o.
template <class T>
__device__ inline T tap_weight(const LinearTaps<T>& t, I64 i) {
  return (t.i0 == i ? t.l0 : T(0)) + (t.i1 == i ? t.l1 : T(0));
}

// gx[p, h, w] = sum over the outputs whose taps include (h, w): those whose first tap is h - 1 or h.
template <class T>
__global__ void upsample_bilinear2d_backward_kernel(I64 planes, I64 H, I64 W, I64 OH, I64 OW, bool ac, const T* gy,
                                                    T* gx) {
  const I64 total = planes * H * W;
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 w = i % W, h = (i / W) % H, p = i / (W * H);
    const I64 oh0 = first_tap_at_least<T>(h - 1, H, OH, ac), oh1 = first_tap_at_least<T>(h + 1, H, OH, ac);
    const I64 ow0 = first_tap_at_least<T>(w - 1, W, OW, ac), ow1 = first_tap_at_least<T>(w + 1, W, OW, ac);
    const T* gyp = gy + p * OH * OW;
    T acc = T(0);
    for (I64 oh = oh0; oh < oh1; ++oh) {
      const T wh = tap_weight(linear_taps<T>(oh, H, OH, ac), h);
      if (wh == T(0)) continue;
      T row = T(0);
      for (I64 ow = ow0; ow < ow1; ++ow) row += tap_weight(linear_taps<T>(ow, W, OW, ac), w) * gyp[oh * OW + ow];
      acc += wh * row;
    }
    gx[i] = acc;
  }
}

// ---- batch norm: per-channel sums -------------------------------------------------------------------------

// Two sums at once (the backward's sum gy and sum gy * xhat).
struct Pair {
  double a, b;
  __device__ Pair& operator+=(const Pair& o) {
    a += o.a;
    b += o.b;
    return *this;
  }
};
__device__ inline double zero_of(double) { return 0.0; }
__device__ inline Pair zero_of(Pair) { return Pair{0.0, 0.0}; }

// Chunks per channel: a function of M only (never of the device), so the summation order is fixed.
inline int channel_chunks(I64 M) {
  const I64 per_chunk = static_cast<I64>(detail::kReduceThreads) * 16;
  return static_cast<int>(std::clamp<I64>((M + per_chunk - 1) / per_chunk, 1, 128));
}

// Block (s, c) sums f(c, m) over m in chunk s of channel c into partials[c * S + s] (threads stride by the
// block size, then a fixed shared-memory tree).
template <class Acc, class F>
__global__ void channel_partials_kernel(I64 M, int S, F f, Acc* partials) {
  __shared__ Acc buf[detail::kReduceThreads];
  const I64 c = blockIdx.y, s = blockIdx.x;
  const I64 chunk = (M + S - 1) / S;
  const I64 begin = s * chunk, end = imin(M, begin + chunk);
  Acc acc = zero_of(Acc{});
  for (I64 m = begin + threadIdx.x; m < end; m += detail::kReduceThreads) acc += f(c, m);
  acc = detail::block_sum(buf, acc);
  if (threadIdx.x == 0) partials[c * S + s] = acc;
}

// out[c] = sum of partials[c * S + 0 .. S) in order; one thread per channel.
template <class Acc>
__global__ void channel_finish_kernel(I64 C, int S, const Acc* partials, Acc* out) {
  for (I64 c = thread_index(); c < C; c += grid_stride()) {
    Acc acc = zero_of(Acc{});
    for (int s = 0; s < S; ++s) acc += partials[c * S + s];
    out[c] = acc;
  }
}

// out[c] = sum over the M = N * HW values of channel c of f(c, m), deterministic. Overwrites out (device).
template <class Acc, class F>
void channel_sums(I64 N, I64 C, I64 HW, F f, Acc* out, Stream s) {
  const I64 M = N * HW;
  const int S = channel_chunks(M);
  GN_CHECK(C <= 65535, "batch norm (CUDA): {} channels exceed the grid's limit of 65535", C);
  detail::StreamScratch scratch(sizeof(Acc) * static_cast<std::size_t>(C * S), s);
  channel_partials_kernel<Acc, F>
      <<<dim3(S, static_cast<unsigned>(C)), detail::kReduceThreads, 0, s>>>(M, S, f, scratch.as<Acc>());
  GN_CUDA_CHECK_LAUNCH();
  channel_finish_kernel<Acc><<<grid_for(C), kThreads, 0, s>>>(C, S, scratch.as<Acc>(), out);
  GN_CUDA_CHECK_LAUNCH();
}

// Element m of channel c in (N, C, HW).
__device__ inline I64 nchw_offset(I64 C, I64 HW, I64 c, I64 m) { return ((m / HW) * C + c) * HW + m % HW; }

template <class T>
struct LoadX {
  const T* x;
  I64 C, HW;
  __device__ double operator()(I64 c, I64 m) const { return static_cast<double>(x[nchw_offset(C, HW, c, m)]); }
};
template <class T>
struct SquaredDeviation {
  const T* x;
  const double* sum;  // per channel
  I64 C, HW, M;
  __device__ double operator()(I64 c, I64 m) const {
    const double d = static_cast<double>(x[nchw_offset(C, HW, c, m)]) - sum[c] / static_cast<double>(M);
    return d * d;
  }
};
template <class T>
struct GradSums {
  const T *x, *gy, *mean, *invstd;
  I64 C, HW;
  __device__ Pair operator()(I64 c, I64 m) const {
    const I64 o = nchw_offset(C, HW, c, m);
    const double g = static_cast<double>(gy[o]);
    const double xhat = (static_cast<double>(x[o]) - static_cast<double>(mean[c])) * static_cast<double>(invstd[c]);
    return Pair{g, g * xhat};
  }
};

// Per channel, from sum and sum of squared deviations: the saved statistics, the running update and the
// affine map y = x * scale + shift.
template <class T>
__global__ void bn_finalize_train_kernel(I64 C, I64 M, const double* sum, const double* sq, const T* weight,
                                         const T* bias, double eps, double momentum, T* running_mean, T* running_var,
                                         T* save_mean, T* save_invstd, double* scale, double* shift) {
  for (I64 c = thread_index(); c < C; c += grid_stride()) {
    const double mean = sum[c] / static_cast<double>(M), var = sq[c] / static_cast<double>(M);
    const double invstd = 1.0 / sqrt(var + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    if (running_mean != nullptr)
      running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    if (running_var != nullptr) {
      const double unbiased = M > 1 ? sq[c] / static_cast<double>(M - 1) : var;
      running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
    }
    const double w = weight != nullptr ? static_cast<double>(weight[c]) : 1.0;
    const double b = bias != nullptr ? static_cast<double>(bias[c]) : 0.0;
    scale[c] = w * invstd;
    shift[c] = b - mean * w * invstd;
  }
}

template <class T>
__global__ void bn_finalize_eval_kernel(I64 C, const T* running_mean, const T* running_var, const T* weight,
                                        const T* bias, double eps, T* save_mean, T* save_invstd, double* scale,
                                        double* shift) {
  for (I64 c = thread_index(); c < C; c += grid_stride()) {
    const double mean = static_cast<double>(running_mean[c]);
    const double invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    save_mean[c] = running_mean[c];
    save_invstd[c] = static_cast<T>(invstd);
    const double w = weight != nullptr ? static_cast<double>(weight[c]) : 1.0;
    const double b = bias != nullptr ? static_cast<double>(bias[c]) : 0.0;
    scale[c] = w * invstd;
    shift[c] = b - mean * w * invstd;
  }
}

// y = x * scale[c] + shift[c], the per-channel constants rounded to T first (as the CPU kernel does).
template <class T>
__global__ void bn_apply_kernel(I64 total, I64 C, I64 HW, const T* x, const double* scale, const double* shift, T* y) {
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 c = (i / HW) % C;
    y[i] = x[i] * static_cast<T>(scale[c]) + static_cast<T>(shift[c]);
  }
}

template <class T>
__global__ void bn_backward_finalize_kernel(I64 C, const Pair* sums, T* grad_weight, T* grad_bias) {
  for (I64 c = thread_index(); c < C; c += grid_stride()) {
    if (grad_bias != nullptr) grad_bias[c] = static_cast<T>(sums[c].a);
    if (grad_weight != nullptr) grad_weight[c] = static_cast<T>(sums[c].b);
  }
}

// gx = weight * invstd * (gy - mg - xhat * mgx), mg = sum gy / M and mgx = sum gy xhat / M in training mode
// (0 in eval mode).
template <class T>
__global__ void bn_backward_input_kernel(I64 total, I64 C, I64 HW, I64 M, const T* x, const T* gy, const T* weight,
                                         const T* mean, const T* invstd, const Pair* sums, bool training, T* gx) {
  for (I64 i = thread_index(); i < total; i += grid_stride()) {
    const I64 c = (i / HW) % C;
    const double is = static_cast<double>(invstd[c]);
    const double k = (weight != nullptr ? static_cast<double>(weight[c]) : 1.0) * is;
    const double mg = training ? sums[c].a / static_cast<double>(M) : 0.0;
    const double mgx = training ? sums[c].b / static_cast<double>(M) : 0.0;
    const double xhat = (static_cast<double>(x[i]) - static_cast<double>(mean[c])) * is;
    gx[i] = static_cast<T>(k * (static_cast<double>(gy[i]) - mg - xhat * mgx));
  }
}

}  // namespace

// ---- host entry points --------------------------------------------------------------------------------

template <class T>
void max_pool2d(const Pool2dGeometry& g, const T* x, T* y, I64* idx, Stream s) {
  const I64 total = g.planes * g.OH * g.OW;
  if (total <= 0) return;
  max_pool2d_kernel<T><<<grid_for(total), kThreads, 0, s>>>(g, x, y, idx);
  GN_CUDA_CHECK_LAUNCH();
}
template <class T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* gy, const I64* idx, T* gx, Stream s) {
  const I64 total = g.planes * g.H * g.W;
  if (total <= 0) return;
  max_pool2d_backward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(g, gy, idx, gx);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void max_unpool2d(I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* x, const I64* idx, T* y, Stream s) {
  const I64 out_total = planes * OH * OW, in_total = planes * H * W;
  if (out_total <= 0) return;
  fill_zero_kernel<T><<<grid_for(out_total), kThreads, 0, s>>>(out_total, y);
  GN_CUDA_CHECK_LAUNCH();
  if (in_total <= 0) return;
  max_unpool2d_scatter_kernel<T><<<grid_for(in_total), kThreads, 0, s>>>(planes, H * W, OH * OW, x, idx, y);
  GN_CUDA_CHECK_LAUNCH();
}
template <class T>
void max_unpool2d_backward(I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* gy, const I64* idx, T* gx, Stream s) {
  const I64 total = planes * H * W;
  if (total <= 0) return;
  max_unpool2d_backward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(planes, H * W, OH * OW, gy, idx, gx);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void upsample_nearest2d(I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* x, T* y, Stream s) {
  const I64 total = planes * OH * OW;
  if (total <= 0) return;
  upsample_nearest2d_kernel<T><<<grid_for(total), kThreads, 0, s>>>(planes, H, W, OH, OW, x, y);
  GN_CUDA_CHECK_LAUNCH();
}
template <class T>
void upsample_nearest2d_backward(I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* gy, T* gx, Stream s) {
  const I64 total = planes * H * W;
  if (total <= 0) return;
  upsample_nearest2d_backward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(planes, H, W, OH, OW, gy, gx);
  GN_CUDA_CHECK_LAUNCH();
}
template <class T>
void upsample_bilinear2d(I64 planes, I64 H, I64 W, I64 OH, I64 OW, bool ac, const T* x, T* y, Stream s) {
  const I64 total = planes * OH * OW;
  if (total <= 0) return;
  upsample_bilinear2d_kernel<T><<<grid_for(total), kThreads, 0, s>>>(planes, H, W, OH, OW, ac, x, y);
  GN_CUDA_CHECK_LAUNCH();
}
template <class T>
void upsample_bilinear2d_backward(I64 planes, I64 H, I64 W, I64 OH, I64 OW, bool ac, const T* gy, T* gx, Stream s) {
  const I64 total = planes * H * W;
  if (total <= 0) return;
  upsample_bilinear2d_backward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(planes, H, W, OH, OW, ac, gy, gx);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void batch_norm_forward_train(I64 N, I64 C, I64 HW, const T* x, const T* weight, const T* bias, double eps,
                              double momentum, T* running_mean, T* running_var, T* y, T* save_mean, T* save_invstd,
                              Stream s) {
  if (C <= 0) return;
  const I64 M = N * HW;
  detail::StreamScratch scratch(sizeof(double) * static_cast<std::size_t>(4 * C), s);
  double* sum = scratch.as<double>();
  double* sq = sum + C;
  double* scale = sq + C;
  double* shift = scale + C;
  channel_sums<double>(N, C, HW, LoadX<T>{x, C, HW}, sum, s);
  channel_sums<double>(N, C, HW, SquaredDeviation<T>{x, sum, C, HW, M}, sq, s);
  bn_finalize_train_kernel<T><<<grid_for(C), kThreads, 0, s>>>(C, M, sum, sq, weight, bias, eps, momentum, running_mean,
                                                               running_var, save_mean, save_invstd, scale, shift);
  GN_CUDA_CHECK_LAUNCH();
  const I64 total = N * C * HW;
  if (total <= 0) return;
  bn_apply_kernel<T><<<grid_for(total), kThreads, 0, s>>>(total, C, HW, x, scale, shift, y);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void batch_norm_forward_eval(I64 N, I64 C, I64 HW, const T* x, const T* weight, const T* bias, const T* running_mean,
                             const T* running_var, double eps, T* y, T* save_mean, T* save_invstd, Stream s) {
  if (C <= 0) return;
  detail::StreamScratch scratch(sizeof(double) * static_cast<std::size_t>(2 * C), s);
  double* scale = scratch.as<double>();
  double* shift = scale + C;
  bn_finalize_eval_kernel<T><<<grid_for(C), kThreads, 0, s>>>(C, running_mean, running_var, weight, bias, eps,
                                                              save_mean, save_invstd, scale, shift);
  GN_CUDA_CHECK_LAUNCH();
  const I64 total = N * C * HW;
  if (total <= 0) return;
  bn_apply_kernel<T><<<grid_for(total), kThreads, 0, s>>>(total, C, HW, x, scale, shift, y);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void batch_norm_backward(I64 N, I64 C, I64 HW, const T* x, const T* gy, const T* weight, const T* save_mean,
                         const T* save_invstd, bool training, T* gx, T* grad_weight, T* grad_bias, Stream s) {
  if (C <= 0) return;
  const I64 M = N * HW;
  detail::StreamScratch scratch(sizeof(Pair) * static_cast<std::size_t>(C), s);
  Pair* sums = scratch.as<Pair>();
  channel_sums<Pair>(N, C, HW, GradSums<T>{x, gy, save_mean, save_invstd, C, HW}, sums, s);
  if (grad_weight != nullptr || grad_bias != nullptr) {
    bn_backward_finalize_kernel<T><<<grid_for(C), kThreads, 0, s>>>(C, sums, grad_weight, grad_bias);
    GN_CUDA_CHECK_LAUNCH();
  }
  const I64 total = N * C * HW;
  if (gx == nullptr || total <= 0) return;
  bn_backward_input_kernel<T>
      <<<grid_for(total), kThreads, 0, s>>>(total, C, HW, M, x, gy, weight, save_mean, save_invstd, sums, training, gx);
  GN_CUDA_CHECK_LAUNCH();
}

#define GN_INSTANTIATE(T)                                                                                             \
  template void max_pool2d<T>(const Pool2dGeometry&, const T*, T*, I64*, Stream);                                     \
  template void max_pool2d_backward<T>(const Pool2dGeometry&, const T*, const I64*, T*, Stream);                      \
  template void max_unpool2d<T>(I64, I64, I64, I64, I64, const T*, const I64*, T*, Stream);                           \
  template void max_unpool2d_backward<T>(I64, I64, I64, I64, I64, const T*, const I64*, T*, Stream);                  \
  template void upsample_nearest2d<T>(I64, I64, I64, I64, I64, const T*, T*, Stream);                                 \
  template void upsample_nearest2d_backward<T>(I64, I64, I64, I64, I64, const T*, T*, Stream);                        \
  template void upsample_bilinear2d<T>(I64, I64, I64, I64, I64, bool, const T*, T*, Stream);                          \
  template void upsample_bilinear2d_backward<T>(I64, I64, I64, I64, I64, bool, const T*, T*, Stream);                 \
  template void batch_norm_forward_train<T>(I64, I64, I64, const T*, const T*, const T*, double, double, T*, T*, T*,  \
                                            T*, T*, Stream);                                                          \
  template void batch_norm_forward_eval<T>(I64, I64, I64, const T*, const T*, const T*, const T*, const T*, double,   \
                                           T*, T*, T*, Stream);                                                       \
  template void batch_norm_backward<T>(I64, I64, I64, const T*, const T*, const T*, const T*, const T*, bool, T*, T*, \
                                       T*, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda
