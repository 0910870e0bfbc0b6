#pragma once
// The test oracle for the convolution kernels: a direct nested-loop 2-d convolution (NCHW, groups = 1),
// forward, backward-data and backward-filter, over std::vector<double>, summing in double, written from
// the definition in kernels/conv_shape.h and nothing else (no im2col, no GEMM).
#include <cstdint>
#include <vector>

#include "kernels/conv_shape.h"

namespace gn_test {

// Calls f(n, o, c, i, j, p, q, xi) for every term y[n][o][i][j] += w[o][c][p][q] x[xi] with x in range.
template <class F>
void for_each_conv_term(const gn::ConvShape& s, F&& f) {
  for (std::int64_t n = 0; n < s.batch; ++n)
    for (std::int64_t o = 0; o < s.out_channels; ++o)
      for (std::int64_t i = 0; i < s.out_h; ++i)
        for (std::int64_t j = 0; j < s.out_w; ++j)
          for (std::int64_t c = 0; c < s.in_channels; ++c)
            for (std::int64_t p = 0; p < s.kernel_h; ++p)
              for (std::int64_t q = 0; q < s.kernel_w; ++q) {
                const std::int64_t ih = i * s.stride_h - s.pad_h + p * s.dilation_h;
                const std::int64_t iw = j * s.stride_w - s.pad_w + q * s.dilation_w;
                if (ih < 0 || ih >= s.in_h || iw < 0 || iw >= s.in_w) continue;
                const std::int64_t xi = ((n * s.in_channels + c) * s.in_h + ih) * s.in_w + iw;
                const std::int64_t wi = ((o * s.in_channels + c) * s.kernel_h + p) * s.kernel_w + q;
                const std::int64_t yi = ((n * s.out_channels + o) * s.out_h + i) * s.out_w + j;
                f(yi, wi, xi, o);
              }
}

// y = conv(x, w) + bias (empty bias: none).
inline std::vector<double> direct_conv2d_forward(const gn::ConvShape& s, const std::vector<double>& x,
                                                 const std::vector<double>& w, const std::vector<double>& bias) {
  std::vector<double> y(static_cast<std::size_t>(s.y_numel()), 0.0);
  for_each_conv_term(s,
                     [&](std::int64_t yi, std::int64_t wi, std::int64_t xi, std::int64_t) { y[yi] += w[wi] * x[xi]; });
  if (!bias.empty())
    for (std::int64_t k = 0; k < s.y_numel(); ++k) y[k] += bias[(k / (s.out_h * s.out_w)) % s.out_channels];
  return y;
}

inline std::vector<double> direct_conv2d_backward_data(const gn::ConvShape& s, const std::vector<double>& dy,
                                                       const std::vector<double>& w) {
  std::vector<double> dx(static_cast<std::size_t>(s.x_numel()), 0.0);
  for_each_conv_term(
      s, [&](std::int64_t yi, std::int64_t wi, std::int64_t xi, std::int64_t) { dx[xi] += w[wi] * dy[yi]; });
  return dx;
}

inline std::vector<double> direct_conv2d_backward_filter(const gn::ConvShape& s, const std::vector<double>& x,
                                                         const std::vector<double>& dy) {
  std::vector<double> dw(static_cast<std::size_t>(s.w_numel()), 0.0);
  for_each_conv_term(
      s, [&](std::int64_t yi, std::int64_t wi, std::int64_t xi, std::int64_t) { dw[wi] += x[xi] * dy[yi]; });
  return dw;
}

inline std::vector<double> direct_conv2d_backward_bias(const gn::ConvShape& s, const std::vector<double>& dy) {
  std::vector<double> db(static_cast<std::size_t>(s.out_channels), 0.0);
  for (std::int64_t k = 0; k < s.y_numel(); ++k) db[(k / (s.out_h * s.out_w)) % s.out_channels] += dy[k];
  return db;
}

}  // namespace gn_test
