#pragma once
// Pooling, unpooling, upsampling and batch-norm kernels over raw NCHW buffers (float32 and float64).
// A "plane" is one (n, c) image; kernels that work plane by plane run the planes in parallel (OpenMP,
// static schedule) once the work is large enough, each plane on one thread in a fixed order, so every
// result is bit-identical across runs and thread counts. Every output is overwritten unless the comment
// says it is updated in place.
#include <cstdint>

#include "kernels/pool_geometry.h"

namespace gn::cpu {

// ---- max pooling --------------------------------------------------------------------------------------

// y (planes, OH, OW) = max over each window of x (planes, H, W); idx = the argmax as h * W + w within its
// plane (PyTorch's layout). Ties: the first maximum in row-major window order. NaN propagates (as PyTorch's CPU
// kernel). A window that only covers padding cannot occur (the op requires padding <= kernel / 2).
template <class T>
void max_pool2d(const Pool2dGeometry& g, const T* x, T* y, std::int64_t* idx);
// gx (planes, H, W) = 0, then gx[idx[o]] += gy[o] for every output o (in increasing o within a plane).
template <class T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* gy, const std::int64_t* idx, T* gx);

// ---- max unpooling ------------------------------------------------------------------------------------

// y (planes, OH, OW) = 0, then y[idx[i]] = x[i] for every input i of x (planes, H, W). An index outside
// [0, OH * OW) throws gn::Error naming it.
template <class T>
void max_unpool2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW, const T* x,
                  const std::int64_t* idx, T* y);
// gx (planes, H, W): gx[i] = gy[idx[i]] (a gather; indices already validated by the forward).
template <class T>
void max_unpool2d_backward(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                           const T* gy, const std::int64_t* idx, T* gx);

// ---- upsampling ---------------------------------------------------------------------------------------

// y (planes, OH, OW) from x (planes, H, W) by nearest neighbour (see nearest_source).
template <class T>
void upsample_nearest2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                        const T* x, T* y);
// gx (planes, H, W) = 0, then gx[src(o)] += gy[o] in increasing o within a plane.
template <class T>
void upsample_nearest2d_backward(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                                 const T* gy, T* gx);
// Bilinear (see linear_taps), align_corners as PyTorch.
template <class T>
void upsample_bilinear2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                         bool align_corners, const T* x, T* y);
// gx = 0, then each gy[o] is added into its four taps with their weights, in increasing o within a plane.
template <class T>
void upsample_bilinear2d_backward(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                                  bool align_corners, const T* gy, T* gx);

// ---- batch norm over the channels of x (N, C, HW) -----------------------------------------------------

// Training mode: per channel c, mean and biased variance over the N * HW values (accumulated in double,
// two passes); y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]. Writes save_mean[c] = mean and
// save_invstd[c] = 1 / sqrt(var + eps) for the backward. When running_mean / running_var are not null they
// are updated in place: r = (1 - momentum) r + momentum * stat, with the UNBIASED variance
// var * M / (M - 1), M = N * HW (as PyTorch). weight / bias may be null (1 and 0). Requires M > 1.
template <class T>
void batch_norm_forward_train(std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* weight,
                              const T* bias, double eps, double momentum, T* running_mean, T* running_var, T* y,
                              T* save_mean, T* save_invstd);
// Evaluation mode: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias; also writes save_mean
// = running_mean and save_invstd = 1 / sqrt(running_var + eps) (a snapshot for the backward).
template <class T>
void batch_norm_forward_eval(std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* weight,
                             const T* bias, const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd);
// Gradients from gy, with xhat = (x - save_mean) * save_invstd per channel:
//   grad_bias[c] = sum gy, grad_weight[c] = sum gy * xhat (channel sums over N * HW, in double);
//   training: gx = weight * invstd * (gy - sum(gy) / M - xhat * sum(gy xhat) / M);
//   eval (the statistics are constants): gx = weight * invstd * gy.
// Any of gx, grad_weight, grad_bias may be null (not computed); weight may be null (1).
template <class T>
void batch_norm_backward(std::int64_t N, std::int64_t C, std::int64_t HW, const T* x, const T* gy, const T* weight,
                         const T* save_mean, const T* save_invstd, bool training, T* gx, T* grad_weight, T* grad_bias);

}  // namespace gn::cpu
