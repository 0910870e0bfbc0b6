#include "core/dispatch_pool.h"

#include "kernels/cpu/pool.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/pool.h"
#endif
#include "core/dispatch_cuda.h"

namespace gn::dispatch {

using I64 = std::int64_t;

template <class T>
void max_pool2d(Device d, const Pool2dGeometry& g, const T* x, T* y, I64* idx) {
  if (d.is_cpu()) return cpu::max_pool2d<T>(g, x, y, idx);
  GN_CUDA(cuda::max_pool2d<T>(g, x, y, idx, stream));
}
template <class T>
void max_pool2d_backward(Device d, const Pool2dGeometry& g, const T* gy, const I64* idx, T* gx) {
  if (d.is_cpu()) return cpu::max_pool2d_backward<T>(g, gy, idx, gx);
  GN_CUDA(cuda::max_pool2d_backward<T>(g, gy, idx, gx, stream));
}

template <class T>
void max_unpool2d(Device d, I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* x, const I64* idx, T* y) {
  if (d.is_cpu()) return cpu::max_unpool2d<T>(planes, H, W, OH, OW, x, idx, y);
  GN_CUDA(cuda::max_unpool2d<T>(planes, H, W, OH, OW, x, idx, y, stream));
}
template <class T>
void max_unpool2d_backward(Device d, I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* gy, const I64* idx, T* gx) {
  if (d.is_cpu()) return cpu::max_unpool2d_backward<T>(planes, H, W, OH, OW, gy, idx, gx);
  GN_CUDA(cuda::max_unpool2d_backward<T>(planes, H, W, OH, OW, gy, idx, gx, stream));
}

template <class T>
void upsample_nearest2d(Device d, I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* x, T* y) {
  if (d.is_cpu()) return cpu::upsample_nearest2d<T>(planes, H, W, OH, OW, x, y);
  GN_CUDA(cuda::upsample_nearest2d<T>(planes, H, W, OH, OW, x, y, stream));
}
template <class T>
void upsample_nearest2d_backward(Device d, I64 planes, I64 H, I64 W, I64 OH, I64 OW, const T* gy, T* gx) {
  if (d.is_cpu()) return cpu::upsample_nearest2d_backward<T>(planes, H, W, OH, OW, gy, gx);
  GN_CUDA(cuda::upsample_nearest2d_backward<T>(planes, H, W, OH, OW, gy, gx, stream));
}
template <class T>
void upsample_bilinear2d(Device d, I64 planes, I64 H, I64 W, I64 OH, I64 OW, bool ac, const T* x, T* y) {
  if (d.is_cpu()) return cpu::upsample_bilinear2d<T>(planes, H, W, OH, OW, ac, x, y);
  GN_CUDA(cuda::upsample_bilinear2d<T>(planes, H, W, OH, OW, ac, x, y, stream));
}
template <class T>
void upsample_bilinear2d_backward(Device d, I64 planes, I64 H, I64 W, I64 OH, I64 OW, bool ac, const T* gy, T* gx) {
  if (d.is_cpu()) return cpu::upsample_bilinear2d_backward<T>(planes, H, W, OH, OW, ac, gy, gx);
  GN_CUDA(cuda::upsample_bilinear2d_backward<T>(planes, H, W, OH, OW, ac, gy, gx, stream));
}

template <class T>
void batch_norm_forward_train(Device d, I64 N, I64 C, I64 HW, const T* x, const T* weight, const T* bias, double eps,
                              double momentum, T* running_mean, T* running_var, T* y, T* save_mean, T* save_invstd) {
  if (d.is_cpu())
    return cpu::batch_norm_forward_train<T>(N, C, HW, x, weight, bias, eps, momentum, running_mean, running_var, y,
                                            save_mean, save_invstd);
  GN_CUDA(cuda::batch_norm_forward_train<T>(N, C, HW, x, weight, bias, eps, momentum, running_mean, running_var, y,
                                            save_mean, save_invstd, stream));
}
template <class T>
void batch_norm_forward_eval(Device d, I64 N, I64 C, I64 HW, const T* x, const T* weight, const T* bias,
                             const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd) {
  if (d.is_cpu())
    return cpu::batch_norm_forward_eval<T>(N, C, HW, x, weight, bias, running_mean, running_var, eps, y, save_mean,
                                           save_invstd);
  GN_CUDA(cuda::batch_norm_forward_eval<T>(N, C, HW, x, weight, bias, running_mean, running_var, eps, y, save_mean,
                                           save_invstd, stream));
}
template <class T>
void batch_norm_backward(Device d, I64 N, I64 C, I64 HW, const T* x, const T* gy, const T* weight, const T* save_mean,
                         const T* save_invstd, bool training, T* gx, T* grad_weight, T* grad_bias) {
  if (d.is_cpu())
    return cpu::batch_norm_backward<T>(N, C, HW, x, gy, weight, save_mean, save_invstd, training, gx, grad_weight,
                                       grad_bias);
  GN_CUDA(cuda::batch_norm_backward<T>(N, C, HW, x, gy, weight, save_mean, save_invstd, training, gx, grad_weight,
                                       grad_bias, stream));
}

#define GN_INSTANTIATE(T)                                                                                             \
  template void max_pool2d<T>(Device, const Pool2dGeometry&, const T*, T*, I64*);                                     \
  template void max_pool2d_backward<T>(Device, const Pool2dGeometry&, const T*, const I64*, T*);                      \
  template void max_unpool2d<T>(Device, I64, I64, I64, I64, I64, const T*, const I64*, T*);                           \
  template void max_unpool2d_backward<T>(Device, I64, I64, I64, I64, I64, const T*, const I64*, T*);                  \
  template void upsample_nearest2d<T>(Device, I64, I64, I64, I64, I64, const T*, T*);                                 \
  template void upsample_nearest2d_backward<T>(Device, I64, I64, I64, I64, I64, const T*, T*);                        \
  template void upsample_bilinear2d<T>(Device, I64, I64, I64, I64, I64, bool, const T*, T*);                          \
  template void upsample_bilinear2d_backward<T>(Device, I64, I64, I64, I64, I64, bool, const T*, T*);                 \
  template void batch_norm_forward_train<T>(Device, I64, I64, I64, const T*, const T*, const T*, double, double, T*,  \
                                            T*, T*, T*, T*);                                                          \
  template void batch_norm_forward_eval<T>(Device, I64, I64, I64, const T*, const T*, const T*, const T*, const T*,   \
                                           double, T*, T*, T*);                                                       \
  template void batch_norm_backward<T>(Device, I64, I64, I64, const T*, const T*, const T*, const T*, const T*, bool, \
                                       T*, T*, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::dispatch
