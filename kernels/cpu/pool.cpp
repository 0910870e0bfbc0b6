#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/lane_sum.h"
#include "kernels/cpu/threads.h"
#include "kernels/error.h"

namespace gn::cpu {
namespace {

// Runs f(p) for every plane p in [0, planes): in parallel (static schedule, one plane per iteration) when
// the total work is worth forking for. Each plane is written by one thread only.
template <class F>
void for_planes(std::int64_t planes, std::int64_t work_per_plane, F f) {
  if (planes * work_per_plane <= kParallelGrain || planes == 1) {
    for (std::int64_t p = 0; p < planes; ++p) f(p);
    return;
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t p = 0; p < planes; ++p) f(p);
}

}  // namespace

// ---- max pooling --------------------------------------------------------------------------------------

namespace {
// The common 2x2 window, stride 2, no padding: the general loop's scan (row by row; the first element, then
// any larger one or NaN takes over) as selects, without its per-window bounds and branches.
template <class T>
void max_pool2x2_plane(const Pool2dGeometry& g, const T* xp, T* yp, std::int64_t* ip) {
  for (std::int64_t oh = 0; oh < g.OH; ++oh) {
    const T* r0 = xp + 2 * oh * g.W;
    const T* r1 = r0 + g.W;
    T* yr = yp + oh * g.OW;
    std::int64_t* ir = ip + oh * g.OW;
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
      const std::int64_t i0 = 2 * oh * g.W + 2 * ow;
      T best = r0[2 * ow];
      std::int64_t arg = i0;
      const T v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
      const bool t1 = v1 > best || std::isnan(v1);
      best = t1 ? v1 : best;
      arg = t1 ? i0 + 1 : arg;
      const bool t2 = v2 > best || std::isnan(v2);
      best = t2 ? v2 : best;
      arg = t2 ? i0 + g.W : arg;
      const bool t3 = v3 > best || std::isnan(v3);
      best = t3 ? v3 : best;
      arg = t3 ? i0 + g.W + 1 : arg;
      yr[ow] = best;
      ir[ow] = arg;
    }
  }
}
}  // namespace

template <class T>
void max_pool2d(const Pool2dGeometry& g, const T* x, T* y, std::int64_t* idx) {
  const std::int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0)
    return for_planes(g.planes, out_plane * 4, [&](std::int64_t p) {
      max_pool2x2_plane(g, x + p * in_plane, y + p * out_plane, idx + p * out_plane);
    });
  for_planes(g.planes, out_plane * g.kh * g.kw, [&](std::int64_t p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    std::int64_t* ip = idx + p * out_plane;
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      const std::int64_t h0 = std::max<std::int64_t>(oh * g.sh - g.ph, 0);
      const std::int64_t h1 = std::min<std::int64_t>(oh * g.sh - g.ph + g.kh, g.H);
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const std::int64_t w0 = std::max<std::int64_t>(ow * g.sw - g.pw, 0);
        const std::int64_t w1 = std::min<std::int64_t>(ow * g.sw - g.pw + g.kw, g.W);
        T best = -std::numeric_limits<T>::infinity();
        std::int64_t arg = h0 * g.W + w0;
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) {
            const T v = xp[h * g.W + w];
            if (v > best || std::isnan(v)) {  // as PyTorch: NaN propagates (the last NaN's index)
              best = v;
              arg = h * g.W + w;
            }
          }
        yp[oh * g.OW + ow] = best;
        ip[oh * g.OW + ow] = arg;
      }
    }
  });
}

template <class T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* gy, const std::int64_t* idx, T* gx) {
  const std::int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  for_planes(g.planes, in_plane + out_plane, [&](std::int64_t p) {
    T* gp = gx + p * in_plane;
    std::fill_n(gp, in_plane, T(0));
    const T* gyp = gy + p * out_plane;
    const std::int64_t* ip = idx + p * out_plane;
    for (std::int64_t o = 0; o < out_plane; ++o) gp[ip[o]] += gyp[o];
  });
}

// ---- max unpooling ------------------------------------------------------------------------------------

template <class T>
void max_unpool2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW, const T* x,
                  const std::int64_t* idx, T* y) {
  const std::int64_t in_plane = H * W, out_plane = OH * OW;
  // Validate first (a throw must not escape an OpenMP region).
  for (std::int64_t i = 0; i < planes * in_plane; ++i)
    GN_CHECK(idx[i] >= 0 && idx[i] < out_plane,
             "max_unpool2d: index {} at input position {} is outside the output plane of {}x{} ({} elements)", idx[i],
             i, OH, OW, out_plane);
  for_planes(planes, in_plane + out_plane, [&](std::int64_t p) {
    T* yp = y + p * out_plane;
    std::fill_n(yp, out_plane, T(0));
    const T* xp = x + p * in_plane;
    const std::int64_t* ip = idx + p * in_plane;
    for (std::int64_t i = 0; i < in_plane; ++i) yp[ip[i]] = xp[i];
  });
}

template <class T>
void max_unpool2d_backward(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                           const T* gy, const std::int64_t* idx, T* gx) {
  const std::int64_t in_plane = H * W, out_plane = OH * OW;
  for_planes(planes, in_plane, [&](std::int64_t p) {
    const T* gyp = gy + p * out_plane;
    const std::int64_t* ip = idx + p * in_plane;
    T* gp = gx + p * in_plane;
    for (std::int64_t i = 0; i < in_plane; ++i) gp[i] = gyp[ip[i]];
  });
}

// ---- upsampling ---------------------------------------------------------------------------------------

template <class T>
void upsample_nearest2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                        const T* x, T* y) {
  std::vector<std::int64_t> src_w(static_cast<std::size_t>(OW));
  for (std::int64_t ow = 0; ow < OW; ++ow) src_w[ow] = nearest_source(ow, W, OW);
  for_planes(planes, OH * OW, [&](std::int64_t p) {
    const T* xp = x + p * H * W;
    T* yp = y + p * OH * OW;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const T* row = xp + nearest_source(oh, H, OH) * W;
      for (std::int64_t ow = 0; ow < OW; ++ow) yp[oh * OW + ow] = row[src_w[ow]];
    }
  });
}

template <class T>
void upsample_nearest2d_backward(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                                 const T* gy, T* gx) {
  std::vector<std::int64_t> src_w(static_cast<std::size_t>(OW));
  for (std::int64_t ow = 0; ow < OW; ++ow) src_w[ow] = nearest_source(ow, W, OW);
  for_planes(planes, H * W + OH * OW, [&](std::int64_t p) {
    T* gp = gx + p * H * W;
    std::fill_n(gp, H * W, T(0));
    const T* gyp = gy + p * OH * OW;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      T* row = gp + nearest_source(oh, H, OH) * W;
      for (std::int64_t ow = 0; ow < OW; ++ow) row[src_w[ow]] += gyp[oh * OW + ow];
    }
  });
}

template <class T>
void upsample_bilinear2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                         bool align_corners, const T* x, T* y) {
  std::vector<LinearTaps<T>> tw(static_cast<std::size_t>(OW));
  for (std::int64_t ow = 0; ow < OW; ++ow) tw[ow] = linear_taps<T>(ow, W, OW, align_corners);
  for_planes(planes, OH * OW * 4, [&](std::int64_t p) {
    const T* xp = x + p * H * W;
    T* yp = y + p * OH * OW;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const LinearTaps<T> th = linear_taps<T>(oh, H, OH, align_corners);
      const T* r0 = xp + th.i0 * W;
      const T* r1 = xp + th.i1 * W;
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const LinearTaps<T>& t = tw[ow];
        yp[oh * OW + ow] = th.l0 * (t.l0 * r0[t.i0] + t.l1 * r0[t.i1]) + th.l1 * (t.l0 * r1[t.i0] + t.l1 * r1[t.i1]);
      }
    }
  });
}

template <class T>
void upsample_bilinear2d_backward(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                                  bool align_corners, const T* gy, T* gx) {
  std::vector<LinearTaps<T>> tw(static_cast<std::size_t>(OW));
  for (std::int64_t ow = 0; ow < OW; ++ow) tw[ow] = linear_taps<T>(ow, W, OW, align_corners);
  for_planes(planes, H * W + OH * OW * 4, [&](std::int64_t p) {
    T* gp = gx + p * H * W;
    std::fill_n(gp, H * W, T(0));
    const T* gyp = gy + p * OH * OW;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const LinearTaps<T> th = linear_taps<T>(oh, H, OH, align_corners);
      T* r0 = gp + th.i0 * W;
      T* r1 = gp + th.i1 * W;
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const LinearTaps<T>& t = tw[ow];
        const T g = gyp[oh * OW + ow];
        r0[t.i0] += th.l0 * t.l0 * g;
        r0[t.i1] += th.l0 * t.l1 * g;
        r1[t.i0] += th.l1 * t.l0 * g;
        r1[t.i1] += th.l1 * t.l1 * g;
      }
    }
  });
}

// ---- batch norm ---------------------------------------------------------------------------------------

namespace {

constexpr int kLanes = Lanes::kLanes;

// s1 += sum (x - shift), s2 += sum (x - shift)^2 over the channel (x: T).
template <class T>
void add_channel_moments(std::int64_t N, std::int64_t C, std::int64_t HW, std::int64_t c, const T* x, double shift,
                         Lanes& s1, Lanes& s2) {
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xp = x + (n * C + c) * HW;
    std::int64_t i = 0;
    for (; i + kLanes <= HW; i += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const double d = static_cast<double>(xp[i + k]) - shift;
        s1.acc[k] += d;
        s2.acc[k] += d * d;
      }
    for (int k = 0; i < HW; ++i, ++k) {
      const double d = static_cast<double>(xp[i]) - shift;
      s1.acc[k] += d;
      s2.acc[k] += d * d;
    }
  }
}

// acc1 += sum g, acc2 += sum g (x - mean) over the channel (x, g: T).
template <class T>
void add_channel_grad(std::int64_t N, std::int64_t C, std::int64_t HW, std::int64_t c, const T* x, const T* g,
                      double mean, Lanes& sum_g, Lanes& sum_gd) {
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xp = x + (n * C + c) * HW;
    const T* gp = g + (n * C + c) * HW;
    std::int64_t i = 0;
    for (; i + kLanes <= HW; i += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const double gv = static_cast<double>(gp[i + k]);
        sum_g.acc[k] += gv;
        sum_gd.acc[k] += gv * (static_cast<double>(xp[i + k]) - mean);
      }
    for (int k = 0; i < HW; ++i, ++k) {
      const double gv = static_cast<double>(gp[i]);
      sum_g.acc[k] += gv;
      sum_gd.acc[k] += gv * (static_cast<double>(xp[i]) - mean);
    }
  }
}

// Channel c of y = (x - mean) invstd weight + bias, as one scale and shift per channel (both modes).
template <class T>
void normalize_channel(std::int64_t N, std::int64_t C, std::int64_t HW, std::int64_t c, const T* x, const T* weight,
                       const T* bias, double mean, double invstd, T* y) {
  const double w = weight != nullptr ? static_cast<double>(weight[c]) : 1.0;
  const double b = bias != nullptr ? static_cast<double>(bias[c]) : 0.0;
  const T scale = static_cast<T>(w * invstd);
  const T shift = static_cast<T>(b - mean * w * invstd);
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xp = x + (n * C + c) * HW;
    T* yp = y + (n * C + c) * HW;
    for (std::int64_t i = 0; i < HW; ++i) yp[i] = xp[i] * scale + shift;
  }
}
}  // namespace

template <class T>
void batch_norm_forward_train(std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* weight,
                              const T* bias, double eps, double momentum, T* running_mean, T* running_var, T* y,
                              T* save_mean, T* save_invstd) {
  const std::int64_t M = N * HW;
  for_planes(C, M * 3, [&](std::int64_t c) {
    // One pass for both moments, about a shift K (the channel's first value): in double, sum (x - K)^2 -
    // (sum (x - K))^2 / M loses nothing that matters while |mean - K| is a few standard deviations.
    const double shift = static_cast<double>(x[c * HW]);
    Lanes s1, s2;
    add_channel_moments(N, C, HW, c, x, shift, s1, s2);
    const double d1 = s1.total(), mean = shift + d1 / static_cast<double>(M);
    const double sq = std::max(0.0, s2.total() - d1 * d1 / static_cast<double>(M));
    const double var = sq / static_cast<double>(M);
    const double invstd = 1.0 / std::sqrt(var + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    if (running_mean != nullptr)
      running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    if (running_var != nullptr) {
      const double unbiased = M > 1 ? sq / static_cast<double>(M - 1) : var;
      running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
    }
    normalize_channel(N, C, HW, c, x, weight, bias, mean, invstd, y);
  });
}

template <class T>
void batch_norm_forward_eval(std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* weight,
                             const T* bias, const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd) {
  for_planes(C, N * HW, [&](std::int64_t c) {
    const double mean = static_cast<double>(running_mean[c]);
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    save_mean[c] = running_mean[c];
    save_invstd[c] = static_cast<T>(invstd);
    normalize_channel(N, C, HW, c, x, weight, bias, mean, invstd, y);
  });
}

template <class T>
void batch_norm_backward(std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* gy, const T* weight,
                         const T* save_mean, const T* save_invstd, bool training, T* gx, T* grad_weight, T* grad_bias) {
  const std::int64_t M = N * HW;
  for_planes(C, M * 2, [&](std::int64_t c) {
    const double mean = static_cast<double>(save_mean[c]);
    const double invstd = static_cast<double>(save_invstd[c]);
    Lanes lg, lgd;
    add_channel_grad(N, C, HW, c, x, gy, mean, lg, lgd);
    const double sum_g = lg.total(), sum_gx = lgd.total() * invstd;  // sum gy, sum gy * xhat
    if (grad_bias != nullptr) grad_bias[c] = static_cast<T>(sum_g);
    if (grad_weight != nullptr) grad_weight[c] = static_cast<T>(sum_gx);
    if (gx == nullptr) return;
    const double w = weight != nullptr ? static_cast<double>(weight[c]) : 1.0;
    const double k = w * invstd;
    const double mg = training ? sum_g / static_cast<double>(M) : 0.0;
    const double mgx = training ? sum_gx / static_cast<double>(M) : 0.0;
    // gx = k (gy - mg - xhat mgx) = a gy + b (x - mean) + shift, in T (vectorisable).
    const T a = static_cast<T>(k), b = static_cast<T>(-k * mgx * invstd), shift = static_cast<T>(-k * mg);
    const T mean_t = save_mean[c];
    for (std::int64_t n = 0; n < N; ++n) {
      const T* xp = x + (n * C + c) * HW;
      const T* gp = gy + (n * C + c) * HW;
      T* op = gx + (n * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i) op[i] = a * gp[i] + b * (xp[i] - mean_t) + shift;
    }
  });
}

#define GN_INSTANTIATE(T)                                                                                             \
  template void max_pool2d<T>(const Pool2dGeometry&, const T*, T*, std::int64_t*);                                    \
  template void max_pool2d_backward<T>(const Pool2dGeometry&, const T*, const std::int64_t*, T*);                     \
  template void max_unpool2d<T>(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, const T*,       \
                                const std::int64_t*, T*);                                                             \
  template void max_unpool2d_backward<T>(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,        \
                                         const T*, const std::int64_t*, T*);                                          \
  template void upsample_nearest2d<T>(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, const T*, \
                                      T*);                                                                            \
  template void upsample_nearest2d_backward<T>(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,  \
                                               const T*, T*);                                                         \
  template void upsample_bilinear2d<T>(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool,    \
                                       const T*, T*);                                                                 \
  template void upsample_bilinear2d_backward<T>(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, \
                                                bool, const T*, T*);                                                  \
  template void batch_norm_forward_train<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const T*, const T*,   \
                                            double, double, T*, T*, T*, T*, T*);                                      \
  template void batch_norm_forward_eval<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const T*, const T*,    \
                                           const T*, const T*, double, T*, T*, T*);                                   \
  template void batch_norm_backward<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const T*, const T*,        \
                                       const T*, const T*, bool, T*, T*, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
