#pragma once
// Convolution ops (NCHW): declarations live here, definitions in core/ops_conv.cpp. Included by core/ops.h.
// PyTorch's semantics (torch.nn.functional.conv2d / conv_transpose2d with groups = 1): cross-correlation,
// zero padding, the same weight layouts. Forward and backward run the dispatched kernels
// (core/dispatch_conv.h): im2col + GEMM on the CPU, cuDNN on CUDA.
#include <cstdint>

#include "core/tensor.h"

namespace gn {

// A (height, width) pair of sizes; one number means the same for both, as in PyTorch (stride=2).
struct Size2 {
  std::int64_t h, w;
  Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor): conv2d(x, w, b, 2)
  Size2(std::int64_t h_, std::int64_t w_) : h(h_), w(w_) {}
};

// x: (B, C_in, H, W), weight: (C_out, C_in, kH, kW), bias: (C_out) or undefined ->
// (B, C_out, H_out, W_out), H_out = floor((H + 2 padding - dilation (kH - 1) - 1) / stride) + 1.
// stride >= 1, padding >= 0, dilation >= 1; the (dilated) kernel must fit in the padded input.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride = 1, Size2 padding = 0,
              Size2 dilation = 1);

// The gradient of conv2d with respect to its input, as an op: x: (B, C_in, H, W), weight: (C_in, C_out, kH, kW),
// bias: (C_out) or undefined -> (B, C_out, H_out, W_out), H_out = (H - 1) stride - 2 padding +
// dilation (kH - 1) + output_padding + 1. output_padding must be smaller than stride or dilation (PyTorch's rule).
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride = 1, Size2 padding = 0,
                        Size2 output_padding = 0, Size2 dilation = 1);

}  // namespace gn
