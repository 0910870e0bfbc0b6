#pragma once
// Batch norm, pooling with indices, unpooling and upsampling ops (NCHW): declarations live here,
// definitions in core/ops_pool.cpp. Included by core/ops.h. PyTorch's semantics throughout; forward and
// backward run the dispatched kernels (core/dispatch_pool.h), float32 and float64, CPU and CUDA.
#include <cstdint>

#include "core/ops_conv.h"  // Size2
#include "core/tensor.h"

namespace gn {

// ---- max pooling ----
struct MaxPoolResult {
  Tensor values;   // (N, C, OH, OW), differentiable
  Tensor indices;  // int64 (N, C, OH, OW): the argmax as h * W + w within its (n, c) plane, as PyTorch
};
// x: (N, C, H, W) -> windows of `kernel`, moved by `stride`, over x padded with -inf by `padding`
// (dilation 1, floor mode): OH = (H + 2 padding - kernel) / stride + 1. kernel, stride >= 1, 0 <= padding
// <= kernel / 2 (PyTorch's rule). Ties go to the first maximum in row-major window order; the gradient
// goes to the argmax only.
MaxPoolResult max_pool2d_with_indices(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding = 0);
Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding = 0);

// The partial inverse of max_pool2d: x, indices: (N, C, H, W) (indices int64, from max_pool2d_with_indices)
// -> (N, C, output_h, output_w), zero except out[n, c].flat[indices[n, c, i]] = x[n, c, i]. The output
// size is explicit (a pooled odd size has two preimages). An index outside [0, output_h * output_w) is an
// error (checked on the CPU; on CUDA such an entry is skipped). Differentiable in x (a gather).
Tensor max_unpool2d(const Tensor& x, const Tensor& indices, std::int64_t output_h, std::int64_t output_w);

// ---- upsampling: (N, C, H, W) -> (N, C, out_h, out_w) ----
// PyTorch's mode='nearest': source index floor(o * in / out) (scale in float), clamped.
Tensor upsample_nearest2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w);
// PyTorch's mode='bilinear': align_corners = true maps the corner pixels onto each other
// (src = o (in - 1) / (out - 1)); false aligns pixel centres (src = (o + 0.5) in / out - 0.5, clamped at 0).
Tensor upsample_bilinear2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w, bool align_corners);

// ---- batch norm over dim 1 of x (N, C, ...) ----
// training: normalise with the batch's mean and biased variance per channel (over N and the spatial
// positions; statistics accumulated in double) and, when running_mean / running_var are defined, update
// them IN PLACE (not recorded by autograd): r = (1 - momentum) r + momentum * batch statistic, with the
// UNBIASED batch variance for running_var (as PyTorch). Needs more than one value per channel.
// eval (training = false): normalise with running_mean / running_var (required), which are constants.
// weight, bias: (C) or undefined (1 and 0). running_mean, running_var: (C), same dtype and device as x.
// Differentiable in x, weight and bias.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

// ---- small compositions of existing ops ----
// x (N, C, H, W) + bias (C) broadcast over N, H, W.
Tensor add_channel_bias(const Tensor& x, const Tensor& bias);
// x (N, C, H, W) -> (N, C): the mean over H and W.
Tensor global_avg_pool2d(const Tensor& x);

}  // namespace gn
