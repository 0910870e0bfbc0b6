#pragma once
// Dispatch for the pooling, unpooling, upsampling and batch-norm kernels (NCHW): each function runs
// kernels/cpu/pool.h for a CPU device and kernels/cuda/pool.h (on the device's stream) otherwise. Same
// contracts as the kernels (see kernels/cpu/pool.h); pointers are in the device's memory.
#include <cstdint>

#include "core/device.h"
#include "kernels/pool_geometry.h"

namespace gn::dispatch {

template <class T>
void max_pool2d(Device d, const Pool2dGeometry& g, const T* x, T* y, std::int64_t* idx);
template <class T>
void max_pool2d_backward(Device d, const Pool2dGeometry& g, const T* gy, const std::int64_t* idx, T* gx);

template <class T>
void max_unpool2d(Device d, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                  const T* x, const std::int64_t* idx, T* y);
template <class T>
void max_unpool2d_backward(Device d, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH,
                           std::int64_t OW, const T* gy, const std::int64_t* idx, T* gx);

template <class T>
void upsample_nearest2d(Device d, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                        const T* x, T* y);
template <class T>
void upsample_nearest2d_backward(Device d, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH,
                                 std::int64_t OW, const T* gy, T* gx);
template <class T>
void upsample_bilinear2d(Device d, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH,
                         std::int64_t OW, bool align_corners, const T* x, T* y);
template <class T>
void upsample_bilinear2d_backward(Device d, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH,
                                  std::int64_t OW, bool align_corners, const T* gy, T* gx);

template <class T>
void batch_norm_forward_train(Device d, std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* weight,
                              const T* bias, double eps, double momentum, T* running_mean, T* running_var, T* y,
                              T* save_mean, T* save_invstd);
template <class T>
void batch_norm_forward_eval(Device d, std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* weight,
                             const T* bias, const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd);
template <class T>
void batch_norm_backward(Device d, std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* gy,
                         const T* weight, const T* save_mean, const T* save_invstd, bool training, T* gx,
                         T* grad_weight, T* grad_bias);

}  // namespace gn::dispatch
