#include "kernels/cpu/dense_loss.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/cpu/threads.h"
#include "kernels/error.h"
#include "kernels/pool_geometry.h"

namespace gn::cpu {
namespace {

struct SumCount {
  double sum = 0;
  std::int64_t count = 0;
};

// Sum and count of f(i) = {term, valid} over i in [0, n): fixed blocks of kReduceBlock positions (in
// parallel when worth it), each summed in increasing i, then the block sums in block order. The result
// is the same for every thread count. `work` is the cost of one position, for the fork decision.
template <class F>
SumCount blocked_masked_sum(std::int64_t n, std::int64_t work, F f) {
  const std::int64_t blocks = (n + kReduceBlock - 1) / kReduceBlock;
  std::vector<SumCount> partial(static_cast<std::size_t>(blocks));
#pragma omp parallel for schedule(static) if (n * work > kParallelGrain)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    SumCount acc;
    for (std::int64_t i = blk * kReduceBlock, e = std::min(n, (blk + 1) * kReduceBlock); i < e; ++i) f(i, acc);
    partial[static_cast<std::size_t>(blk)] = acc;
  }
  SumCount total;
  for (const SumCount& p : partial) {
    total.sum += p.sum;
    total.count += p.count;
  }
  return total;
}

}  // namespace

// ---- masked regression (depth) ------------------------------------------------------------------------

template <class T>
double masked_regression(MaskedPenalty k, std::int64_t n, const T* pred, const T* target, std::int64_t* counted) {
  const SumCount r = blocked_masked_sum(n, 1, [&](std::int64_t i, SumCount& acc) {
    const double t = static_cast<double>(target[i]);
    if (!depth_valid(t)) return;
    acc.sum += masked_term(k, static_cast<double>(pred[i]), t);
    ++acc.count;
  });
  *counted = r.count;
  return r.sum;
}

template <class T>
void masked_regression_backward(MaskedPenalty k, std::int64_t n, const T* pred, const T* target, double scale,
                                T* grad) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(target[i]);
    grad[i] = depth_valid(t) ? static_cast<T>(scale * masked_term_grad(k, static_cast<double>(pred[i]), t)) : T(0);
  }
}

// ---- surface normals ----------------------------------------------------------------------------------

template <class T>
double normal_cosine(std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target,
                     std::int64_t* counted) {
  const SumCount r = blocked_masked_sum(N * S, C, [&](std::int64_t i, SumCount& acc) {
    const std::int64_t n = i / S, off = n * C * S + (i - n * S);  // channel c at off + c * S
    const NormalPixel px = normal_pixel(pred + off, target + off, C, S);
    if (!normal_valid(px)) return;
    acc.sum += 1.0 - normal_cos(px);
    ++acc.count;
  });
  *counted = r.count;
  return r.sum;
}

template <class T>
void normal_cosine_backward(std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target,
                            double scale, T* grad) {
  const std::int64_t positions = N * S;
#pragma omp parallel for schedule(static) if (positions * C > kParallelGrain)
  for (std::int64_t i = 0; i < positions; ++i) {
    const std::int64_t n = i / S, off = n * C * S + (i - n * S);
    const T *p = pred + off, *t = target + off;
    T* g = grad + off;
    const NormalPixel px = normal_pixel(p, t, C, S);
    const bool valid = normal_valid(px);
    for (std::int64_t c = 0; c < C; ++c)
      g[c * S] = valid ? static_cast<T>(
                             scale * normal_term_grad(px, static_cast<double>(p[c * S]), static_cast<double>(t[c * S])))
                       : T(0);
  }
}

// ---- nearest-neighbour resize, any dtype ---------------------------------------------------------------

namespace {
template <class U>  // an unsigned integer as wide as the element: a bit copy
void resize_nearest2d_bits(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                           const U* x, U* y) {
#pragma omp parallel for schedule(static) if (planes * OH * OW > kParallelGrain)
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const U* row = x + (p * H + nearest_source(oh, H, OH)) * W;
      U* out = y + (p * OH + oh) * OW;
      for (std::int64_t ow = 0; ow < OW; ++ow) out[ow] = row[nearest_source(ow, W, OW)];
    }
}
}  // namespace

void resize_nearest2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                      std::size_t elem, const void* x, void* y) {
  if (elem == 4)
    return resize_nearest2d_bits(planes, H, W, OH, OW, static_cast<const std::uint32_t*>(x),
                                 static_cast<std::uint32_t*>(y));
  GN_CHECK(elem == 8, "resize_nearest2d: element size {} is not supported (4 or 8 bytes)", elem);
  resize_nearest2d_bits(planes, H, W, OH, OW, static_cast<const std::uint64_t*>(x), static_cast<std::uint64_t*>(y));
}

#define GN_INSTANTIATE(T)                                                                                        \
  template double masked_regression<T>(MaskedPenalty, std::int64_t, const T*, const T*, std::int64_t*);          \
  template void masked_regression_backward<T>(MaskedPenalty, std::int64_t, const T*, const T*, double, T*);      \
  template double normal_cosine<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const T*, std::int64_t*); \
  template void normal_cosine_backward<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const T*, double, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
