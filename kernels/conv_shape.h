#pragma once
// The geometry of one 2-d convolution (NCHW, cross-correlation as in PyTorch, groups = 1), shared by the
// CPU kernels (kernels/cpu/conv.h) and the cuDNN ones (kernels/cuda/conv_cudnn.h). Plain C++.
//
//   x: (batch, in_channels, in_h, in_w)   weight: (out_channels, in_channels, kernel_h, kernel_w)
//   y: (batch, out_channels, out_h, out_w)
//   y[n][o][i][j] = sum_{c, p, q} weight[o][c][p][q] x[n][c][i*stride_h - pad_h + p*dilation_h]
//                                                      [j*stride_w - pad_w + q*dilation_w]
// (out-of-range x reads are zero). out_h and out_w are stored, not derived, so a transposed convolution
// (whose forward is this convolution's backward-data) can ask for the extra rows output_padding adds:
// they must be at least 1 and at most conv_out_size(...) of the input.
#include <cstdint>

namespace gn {

struct ConvShape {
  std::int64_t batch = 1, in_channels = 1, in_h = 1, in_w = 1;
  std::int64_t out_channels = 1, out_h = 1, out_w = 1;
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;

  std::int64_t x_numel() const { return batch * in_channels * in_h * in_w; }
  std::int64_t y_numel() const { return batch * out_channels * out_h * out_w; }
  std::int64_t w_numel() const { return out_channels * in_channels * kernel_h * kernel_w; }
};

// floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1; <= 0 when the kernel does not fit.
constexpr std::int64_t conv_out_size(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
                                     std::int64_t dilation) {
  const std::int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

}  // namespace gn
