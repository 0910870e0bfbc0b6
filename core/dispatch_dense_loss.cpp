#include "core/dispatch_dense_loss.h"

#include "kernels/cpu/dense_loss.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/dense_loss.h"
#endif
#include "core/dispatch_cuda.h"

namespace gn::dispatch {

using I64 = std::int64_t;

namespace {
// The mean the CUDA finish kernel writes: total / count, 0 when nothing counted.
template <class T>
T masked_mean(double total, I64 count) {
  return count > 0 ? static_cast<T>(total / static_cast<double>(count)) : T(0);
}
// The upstream scale both backends use: g / count in double (unused when nothing counted).
template <class T>
double upstream_scale(const T* g, const I64* counted) {
  return counted[0] > 0 ? static_cast<double>(g[0]) / static_cast<double>(counted[0]) : 0.0;
}
}  // namespace

template <class T>
void masked_regression(Device d, MaskedPenalty k, I64 n, const T* pred, const T* target, T* out, I64* counted) {
  if (d.is_cpu()) {
    const double total = cpu::masked_regression<T>(k, n, pred, target, counted);
    out[0] = masked_mean<T>(total, counted[0]);
    return;
  }
  GN_CUDA(cuda::masked_regression<T>(k, n, pred, target, out, counted, stream));
}
template <class T>
void masked_regression_backward(Device d, MaskedPenalty k, I64 n, const T* pred, const T* target, const T* g,
                                const I64* counted, T* grad) {
  if (d.is_cpu()) return cpu::masked_regression_backward<T>(k, n, pred, target, upstream_scale(g, counted), grad);
  GN_CUDA(cuda::masked_regression_backward<T>(k, n, pred, target, g, counted, grad, stream));
}

template <class T>
void normal_cosine(Device d, I64 N, I64 C, I64 S, const T* pred, const T* target, T* out, I64* counted) {
  if (d.is_cpu()) {
    const double total = cpu::normal_cosine<T>(N, C, S, pred, target, counted);
    out[0] = masked_mean<T>(total, counted[0]);
    return;
  }
  GN_CUDA(cuda::normal_cosine<T>(N, C, S, pred, target, out, counted, stream));
}
template <class T>
void normal_cosine_backward(Device d, I64 N, I64 C, I64 S, const T* pred, const T* target, const T* g,
                            const I64* counted, T* grad) {
  if (d.is_cpu()) return cpu::normal_cosine_backward<T>(N, C, S, pred, target, upstream_scale(g, counted), grad);
  GN_CUDA(cuda::normal_cosine_backward<T>(N, C, S, pred, target, g, counted, grad, stream));
}

void resize_nearest2d(Device d, I64 planes, I64 H, I64 W, I64 OH, I64 OW, std::size_t elem, const void* x, void* y) {
  if (d.is_cpu()) return cpu::resize_nearest2d(planes, H, W, OH, OW, elem, x, y);
  GN_CUDA(cuda::resize_nearest2d(planes, H, W, OH, OW, elem, x, y, stream));
}

#define GN_INSTANTIATE(T)                                                                                           \
  template void masked_regression<T>(Device, MaskedPenalty, I64, const T*, const T*, T*, I64*);                     \
  template void masked_regression_backward<T>(Device, MaskedPenalty, I64, const T*, const T*, const T*, const I64*, \
                                              T*);                                                                  \
  template void normal_cosine<T>(Device, I64, I64, I64, const T*, const T*, T*, I64*);                              \
  template void normal_cosine_backward<T>(Device, I64, I64, I64, const T*, const T*, const T*, const I64*, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::dispatch
