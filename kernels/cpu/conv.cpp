#include "kernels/cpu/conv.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/lane_sum.h"
#include "kernels/cpu/threads.h"

namespace gn::cpu {
namespace {

std::int64_t col_rows(const ConvShape& s) { return s.in_channels * s.kernel_h * s.kernel_w; }
std::int64_t out_hw(const ConvShape& s) { return s.out_h * s.out_w; }
std::int64_t in_chw(const ConvShape& s) { return s.in_channels * s.in_h * s.in_w; }

// A 1x1 kernel with stride 1 and no padding reads x itself as the patch matrix.
bool is_pointwise(const ConvShape& s) {
  return s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 &&
         s.out_h == s.in_h && s.out_w == s.in_w;
}

// Thread over the batch when there is more than one thread, every thread gets at least one sample, and a
// sample is worth a fork (as kParallelGrain for elementwise kernels: small convolutions, e.g. in the
// gradient checks, would spend more time in OpenMP's barriers than in the arithmetic).
constexpr std::int64_t kSampleGrainMacs = std::int64_t{1} << 20;
bool batch_parallel(const ConvShape& s) {
  const int threads = num_threads();
  const std::int64_t macs = s.out_channels * s.in_channels * s.kernel_h * s.kernel_w * s.out_h * s.out_w;
  return threads > 1 && s.batch >= threads && macs >= kSampleGrainMacs;
}

// The patch matrix of a large image does not fit in cache (64 channels at 160x160: 59 MB per sample), so
// it is built and consumed a band of output rows at a time: about kBandBytes per band, but at least
// kMinBandColumns columns (narrower GEMMs lose more to packing than the cache saves) and one row. 1 MB is
// half of a core's L2 on the 2-core test machine, so the band is still cached when the GEMM packs it (4 MB
// made the NYUv2 SegNet step 10-20% slower, benchmarks/RESULTS.md).
constexpr std::int64_t kBandBytes = std::int64_t{1} << 20;
constexpr std::int64_t kMinBandColumns = 512;
template <class T>
std::int64_t band_rows(const ConvShape& s) {
  const std::int64_t row_bytes =
      std::max<std::int64_t>(col_rows(s) * s.out_w * static_cast<std::int64_t>(sizeof(T)), 1);
  const std::int64_t min_rows = (kMinBandColumns + s.out_w - 1) / std::max<std::int64_t>(s.out_w, 1);
  return std::clamp<std::int64_t>(std::max(kBandBytes / row_bytes, min_rows), 1, std::max<std::int64_t>(s.out_h, 1));
}

// Row-major matrices with a row stride (a band of columns of a larger matrix), for Eigen's GEMM.
template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using View = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using ConstView = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;

// The output columns j whose input column j stride + w0 lies inside [0, in_w): [lo, hi) (empty: lo = hi).
struct ColRange {
  std::int64_t lo, hi;
};
ColRange valid_cols(const ConvShape& s, std::int64_t w0) {
  // smallest j with j stride + w0 >= 0, and smallest j with j stride + w0 >= in_w, both clamped to [0, out_w]
  auto first_at_least = [&](std::int64_t bound) {
    const std::int64_t d = bound - w0;
    return std::clamp<std::int64_t>(d <= 0 ? 0 : (d + s.stride_w - 1) / s.stride_w, 0, s.out_w);
  };
  const std::int64_t lo = first_at_least(0);
  return {lo, std::max(lo, first_at_least(s.in_w))};
}

// The patch matrix of output rows [i0, i1): col (C_in kH kW, (i1 - i0) out_w), overwritten.
template <class T>
void im2col_band(const ConvShape& s, const T* x, std::int64_t i0, std::int64_t i1, T* col) {
  const std::int64_t cols = (i1 - i0) * s.out_w;
  // Stride 1 with output rows as wide as input rows ("same" width): consecutive output rows read
  // consecutive input rows, so a band's rows for one (c, p, q) are one contiguous run of x.
  const bool contiguous = s.stride_h == 1 && s.stride_w == 1 && s.out_w == s.in_w;
  const std::int64_t W = s.in_w;
  for (std::int64_t c = 0; c < s.in_channels; ++c) {
    const T* xc = x + c * s.in_h * s.in_w;
    for (std::int64_t p = 0; p < s.kernel_h; ++p) {
      for (std::int64_t q = 0; q < s.kernel_w; ++q) {
        T* row = col + ((c * s.kernel_h + p) * s.kernel_w + q) * cols;
        const std::int64_t w0 = q * s.dilation_w - s.pad_w;
        const auto [lo, hi] = valid_cols(s, w0);
        if (contiguous) {
          // Rows [ia, ib) read input rows ih = i - pad_h + p dilation_h inside the image, which lie one after
          // another in x as the band's rows do in col: one copy for all of them (each row's lo..hi slice is
          // right; what lands outside it came from a neighbouring row and is cleared below), zeros elsewhere.
          const std::int64_t shift = p * s.dilation_h - s.pad_h;
          const std::int64_t ia = std::clamp<std::int64_t>(-shift, i0, i1);
          const std::int64_t ib = std::clamp<std::int64_t>(s.in_h - shift, ia, i1);
          std::fill(row, row + (ia - i0) * W, T(0));
          std::fill(row + (ib - i0) * W, row + cols, T(0));
          if (ia == ib || lo == hi) {
            std::fill(row + (ia - i0) * W, row + (ib - i0) * W, T(0));
            continue;
          }
          T* dst = row + (ia - i0) * W;
          const T* src = xc + (ia + shift) * W;  // dst[r W + j] = src[r W + j + w0]; lo + w0 >= 0
          std::copy(src + lo + w0, src + (ib - ia - 1) * W + hi + w0, dst + lo);
          // Usually one column per row (a 3x3 kernel with padding 1): plain stores, not a memset call each.
          // (Column by column down the rows: a row-wise loop would become one memset call per row.)
          for (std::int64_t j = 0; j < lo; ++j)
            for (std::int64_t r = 0; r < ib - ia; ++r) dst[r * W + j] = T(0);
          for (std::int64_t j = hi; j < W; ++j)
            for (std::int64_t r = 0; r < ib - ia; ++r) dst[r * W + j] = T(0);
          continue;
        }
        for (std::int64_t i = i0; i < i1; ++i) {
          T* dst = row + (i - i0) * s.out_w;
          const std::int64_t ih = i * s.stride_h - s.pad_h + p * s.dilation_h;
          if (ih < 0 || ih >= s.in_h) {
            std::fill_n(dst, s.out_w, T(0));
            continue;
          }
          const T* src = xc + ih * s.in_w;
          std::fill_n(dst, lo, T(0));
          if (s.stride_w == 1)
            std::copy(src + lo + w0, src + hi + w0, dst + lo);
          else
            for (std::int64_t j = lo; j < hi; ++j) dst[j] = src[j * s.stride_w + w0];
          std::fill(dst + hi, dst + s.out_w, T(0));
        }
      }
    }
  }
}

// Adds every entry of the band's patch matrix to the x position it was read from (x not cleared).
template <class T>
void col2im_band_add(const ConvShape& s, const T* col, std::int64_t i0, std::int64_t i1, T* x) {
  const std::int64_t cols = (i1 - i0) * s.out_w;
  for (std::int64_t c = 0; c < s.in_channels; ++c) {
    T* xc = x + c * s.in_h * s.in_w;
    for (std::int64_t p = 0; p < s.kernel_h; ++p) {
      for (std::int64_t q = 0; q < s.kernel_w; ++q) {
        const T* row = col + ((c * s.kernel_h + p) * s.kernel_w + q) * cols;
        const std::int64_t w0 = q * s.dilation_w - s.pad_w;
        const auto [lo, hi] = valid_cols(s, w0);
        for (std::int64_t i = i0; i < i1; ++i) {
          const std::int64_t ih = i * s.stride_h - s.pad_h + p * s.dilation_h;
          if (ih < 0 || ih >= s.in_h) continue;
          const T* src = row + (i - i0) * s.out_w;
          T* dst = xc + ih * s.in_w;
          if (s.stride_w == 1) {
            for (std::int64_t j = lo; j < hi; ++j) dst[j + w0] += src[j];
          } else {
            for (std::int64_t j = lo; j < hi; ++j) dst[j * s.stride_w + w0] += src[j];
          }
        }
      }
    }
  }
}

// This thread's patch-matrix buffer of at least n elements, kept between calls (a fresh 4 MB vector per
// call would be zeroed and, above malloc's mmap threshold, page-faulted in again every time). Contents are
// left over from the last use: every caller overwrites what it reads.
template <class T, int Slot = 0>
T* scratch(std::int64_t n) {
  thread_local std::unique_ptr<T[]> buf;
  thread_local std::int64_t cap = 0;
  if (cap < n) {
    buf.reset(new T[static_cast<std::size_t>(n)]);  // default-initialised: not zeroed
    cap = n;
  }
  return buf.get();
}

// Runs sample(n, col_buffer) for every sample, threaded over the batch when that pays.
template <class T, class F>
void for_each_sample(const ConvShape& s, std::int64_t col_elems, const F& sample) {
  if (batch_parallel(s)) {
#pragma omp parallel
    {
      T* col = scratch<T>(col_elems);
#pragma omp for schedule(static)
      for (std::int64_t n = 0; n < s.batch; ++n) sample(n, col);
    }
  } else {
    T* col = scratch<T>(col_elems);
    for (std::int64_t n = 0; n < s.batch; ++n) sample(n, col);
  }
}

}  // namespace

template <class T>
void im2col(const ConvShape& s, const T* x, T* col) {
  im2col_band(s, x, 0, s.out_h, col);
}

template <class T>
void col2im(const ConvShape& s, const T* col, T* x) {
  std::fill_n(x, in_chw(s), T(0));
  col2im_band_add(s, col, 0, s.out_h, x);
}

namespace {

// ---- direct convolution for few channels ----
// With stride 1 and few channels, y is computed without im2col: per sample the input is copied once into a
// zero-padded buffer, and each chunk of kChunk outputs along a row keeps the sums of a block of up to
// kDirectBlock output channels in registers while every (c, p, q) tap adds w[o, c, p, q] times a
// kChunk-long run of the padded row. A patch matrix would be C_in kH kW times the input (the 16- and
// 32-channel layers at full resolution are bound by writing and packing it); this reads the input once per
// tap from cache. Each output is summed over (c, p, q) in that fixed order. The limits keep a block's
// weights (taps x kDirectBlock) in L1: at 128 channels (1152 taps) Eigen's GEMM was faster (SegNet layers
// at width 0.25: 16 -> 16 at 96x128 fwd 8.5 -> 4.0 ms, 32 -> 32 at 48x64 5.5 -> 3.4 ms, 64 -> 64 at 24x32
// 4.6 -> 4.1 ms; 128 -> 128 at 12x16 3.7 -> 4.2 ms and at 6x8 1.1 -> 2.1 ms, so those stay on im2col).
constexpr std::int64_t kDirectMaxOut = 64;
constexpr std::int64_t kDirectMaxTaps = 640;  // C_in kH kW
constexpr std::int64_t kDirectBlock = 16;     // output channels whose sums a chunk keeps in registers

bool use_direct(const ConvShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && !is_pointwise(s) && s.out_channels <= kDirectMaxOut &&
         col_rows(s) <= kDirectMaxTaps;
}

// 64 bytes of T (one AVX-512 register; GCC splits it where the machine has narrower ones).
template <class T>
struct Vec64Of;
template <>
struct Vec64Of<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct Vec64Of<double> {
  typedef double type __attribute__((vector_size(64)));
};
template <class T>
using Vec64 = typename Vec64Of<T>::type;
template <class T>
constexpr int kChunk = static_cast<int>(64 / sizeof(T));

// acc[o] = bias[o] + sum_{c,p,q} wr[(c kH + p) kW + q][o] xp[c plane + p dh Wp + q dw + (0..kChunk)].
template <class T, int M>
void direct_chunk(const ConvShape& s, const T* xp, std::int64_t plane, std::int64_t Wp, const T* wr, const T* bias,
                  Vec64<T> (&out)[M]) {
  Vec64<T> acc[M];
  for (int o = 0; o < M; ++o) acc[o] = Vec64<T>{} + (bias != nullptr ? bias[o] : T(0));
  for (std::int64_t c = 0; c < s.in_channels; ++c)
    for (std::int64_t p = 0; p < s.kernel_h; ++p)
      for (std::int64_t q = 0; q < s.kernel_w; ++q) {
        Vec64<T> xv;
        std::memcpy(&xv, xp + c * plane + p * s.dilation_h * Wp + q * s.dilation_w, sizeof xv);
        const T* wv = wr + ((c * s.kernel_h + p) * s.kernel_w + q) * M;
        for (int o = 0; o < M; ++o) acc[o] += wv[o] * xv;
      }
  for (int o = 0; o < M; ++o) out[o] = acc[o];
}

// One sample: xpad (C_in, Hp, Wp) plus kChunk spare elements; y_n (M, out_h, out_w), overwritten.
template <class T, int M>
void direct_sample(const ConvShape& s, const T* xpad, std::int64_t Hp, std::int64_t Wp, const T* wr, const T* bias,
                   T* yn) {
  const std::int64_t plane = Hp * Wp, N = s.out_h * s.out_w;
  Vec64<T> acc[M];
  for (std::int64_t i = 0; i < s.out_h; ++i)
    for (std::int64_t j0 = 0; j0 < s.out_w; j0 += kChunk<T>) {
      direct_chunk<T, M>(s, xpad + i * Wp + j0, plane, Wp, wr, bias, acc);
      // The tail chunk read past the row: only its first out_w - j0 lanes are outputs.
      T* dst = yn + i * s.out_w + j0;
      if (j0 + kChunk<T> <= s.out_w) {
        for (int o = 0; o < M; ++o) std::memcpy(dst + o * N, &acc[o], sizeof acc[o]);  // fixed size: one store
      } else {
        const std::int64_t len = s.out_w - j0;
        for (int o = 0; o < M; ++o)
          for (std::int64_t j = 0; j < len; ++j) dst[o * N + j] = acc[o][j];
      }
    }
}

// One block of mb <= kDirectBlock output channels of one sample (wr, bias and yn already offset to it).
template <class T>
void direct_block(std::int64_t mb, const ConvShape& s, const T* xpad, std::int64_t Hp, std::int64_t Wp, const T* wr,
                  const T* bias, T* yn) {
  switch (mb) {
#define GN_DIRECT_CASE(m) \
  case m:                 \
    return direct_sample<T, m>(s, xpad, Hp, Wp, wr, bias, yn);
    GN_DIRECT_CASE(1)
    GN_DIRECT_CASE(2)
    GN_DIRECT_CASE(3) GN_DIRECT_CASE(4) GN_DIRECT_CASE(5) GN_DIRECT_CASE(6) GN_DIRECT_CASE(7) GN_DIRECT_CASE(8)
        GN_DIRECT_CASE(9) GN_DIRECT_CASE(10) GN_DIRECT_CASE(11) GN_DIRECT_CASE(12) GN_DIRECT_CASE(13) GN_DIRECT_CASE(14)
            GN_DIRECT_CASE(15) GN_DIRECT_CASE(16)
#undef GN_DIRECT_CASE
  }
}

template <class T>
void conv2d_forward_direct(const ConvShape& s, const T* x, const T* weight, const T* bias, T* y) {
  const std::int64_t M = s.out_channels, taps = s.in_channels * s.kernel_h * s.kernel_w;
  // Blocks of kDirectBlock output channels; block b's wr (C_in kH kW, mb): its mb weights of a tap side by side.
  T* wr = scratch<T, 3>(taps * M);
  for (std::int64_t o0 = 0; o0 < M; o0 += kDirectBlock) {
    const std::int64_t mb = std::min(kDirectBlock, M - o0);
    for (std::int64_t o = 0; o < mb; ++o)
      for (std::int64_t k = 0; k < taps; ++k) wr[o0 * taps + k * mb + o] = weight[(o0 + o) * taps + k];
  }
  const std::int64_t Hp = s.in_h + 2 * s.pad_h, Wp = s.in_w + 2 * s.pad_w,
                     pad_elems = s.in_channels * Hp * Wp + kChunk<T>;
  for_each_sample<T>(s, pad_elems, [&](std::int64_t n, T* xpad) {
    std::fill_n(xpad, pad_elems, T(0));
    const T* xn = x + n * in_chw(s);
    for (std::int64_t c = 0; c < s.in_channels; ++c)
      for (std::int64_t h = 0; h < s.in_h; ++h) {
        const T* src = xn + (c * s.in_h + h) * s.in_w;
        std::copy(src, src + s.in_w, xpad + (c * Hp + h + s.pad_h) * Wp + s.pad_w);
      }
    T* yn = y + n * M * s.out_h * s.out_w;
    for (std::int64_t o0 = 0; o0 < M; o0 += kDirectBlock)
      direct_block(std::min(kDirectBlock, M - o0), s, xpad, Hp, Wp, wr + o0 * taps,
                   bias != nullptr ? bias + o0 : nullptr, yn + o0 * s.out_h * s.out_w);
  });
}

}  // namespace

template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* weight, const T* bias, T* y) {
  if (use_direct(s)) return conv2d_forward_direct(s, x, weight, bias, y);
  const std::int64_t K = col_rows(s), N = out_hw(s), M = s.out_channels;
  const bool pointwise = is_pointwise(s);
  const std::int64_t band = band_rows<T>(s);
  // One sample: y_n (C_out, HoWo) = weight (C_out, K) col_n (K, HoWo) [+ bias per row], a band of columns
  // (output rows) at a time.
  for_each_sample<T>(s, pointwise ? 0 : K * band * s.out_w, [&](std::int64_t n, T* col) {
    const T* xn = x + n * in_chw(s);
    T* yn = y + n * M * N;
    if (bias != nullptr)
      for (std::int64_t o = 0; o < M; ++o) std::fill_n(yn + o * N, N, bias[o]);
    const T beta = bias != nullptr ? T(1) : T(0);
    if (pointwise) return gemm<T>(false, false, M, N, K, T(1), weight, xn, beta, yn);
    const ConstView<T> w(weight, M, K, Eigen::OuterStride<>(K));
    for (std::int64_t i0 = 0; i0 < s.out_h; i0 += band) {
      const std::int64_t i1 = std::min(i0 + band, s.out_h), cols = (i1 - i0) * s.out_w;
      im2col_band(s, xn, i0, i1, col);
      View<T> out(yn + i0 * s.out_w, M, cols, Eigen::OuterStride<>(N));
      const ConstView<T> c(col, K, cols, Eigen::OuterStride<>(cols));
      if (beta == T(0))
        out.noalias() = w * c;
      else
        out.noalias() += w * c;
    }
  });
}

namespace {

// With stride 1, dx is the convolution of dy with the flipped, transposed kernel and padding
// dilation (k - 1) - pad: a forward convolution (one im2col of dy, one GEMM whose inner dimension is
// C_out kH kW), instead of a GEMM with inner dimension C_out and a scatter-add (col2im) into a cleared dx.
// The shape of that convolution, or false when the data gradient is not one (stride > 1, or padding
// beyond dilation (k - 1)).
bool data_grad_as_conv(const ConvShape& s, ConvShape& t) {
  if (s.stride_h != 1 || s.stride_w != 1) return false;
  const std::int64_t ph = s.dilation_h * (s.kernel_h - 1) - s.pad_h, pw = s.dilation_w * (s.kernel_w - 1) - s.pad_w;
  if (ph < 0 || pw < 0 || is_pointwise(s)) return false;
  t = s;
  t.in_channels = s.out_channels, t.in_h = s.out_h, t.in_w = s.out_w;
  t.out_channels = s.in_channels, t.out_h = s.in_h, t.out_w = s.in_w;
  t.pad_h = ph, t.pad_w = pw;
  return t.in_h + 2 * ph - s.dilation_h * (s.kernel_h - 1) == t.out_h &&
         t.in_w + 2 * pw - s.dilation_w * (s.kernel_w - 1) == t.out_w;
}

}  // namespace

template <class T>
void conv2d_backward_data(const ConvShape& s, const T* dy, const T* weight, T* dx) {
  if (ConvShape t; data_grad_as_conv(s, t)) {
    // flipped (C_in, C_out, kH, kW): flipped[c][o][p][q] = weight[o][c][kH-1-p][kW-1-q]
    const std::int64_t kh = s.kernel_h, kw = s.kernel_w, taps = kh * kw;
    T* flipped = scratch<T, 1>(s.in_channels * s.out_channels * taps);
    for (std::int64_t o = 0; o < s.out_channels; ++o)
      for (std::int64_t c = 0; c < s.in_channels; ++c) {
        const T* src = weight + (o * s.in_channels + c) * taps;
        T* dst = flipped + (c * s.out_channels + o) * taps;
        for (std::int64_t k = 0; k < taps; ++k) dst[k] = src[taps - 1 - k];
      }
    return conv2d_forward<T>(t, dy, flipped, nullptr, dx);
  }
  const std::int64_t K = col_rows(s), N = out_hw(s), M = s.out_channels;
  const bool pointwise = is_pointwise(s);
  const std::int64_t band = band_rows<T>(s);
  // One sample: col (K, band) = weight^T (K, C_out) dy_n[:, band] (C_out, band), added into dx_n by col2im.
  for_each_sample<T>(s, pointwise ? 0 : K * band * s.out_w, [&](std::int64_t n, T* col) {
    const T* dyn = dy + n * M * N;
    T* dxn = dx + n * in_chw(s);
    if (pointwise) return gemm<T>(true, false, K, N, M, T(1), weight, dyn, T(0), dxn);
    std::fill_n(dxn, in_chw(s), T(0));
    const ConstView<T> w(weight, M, K, Eigen::OuterStride<>(K));
    for (std::int64_t i0 = 0; i0 < s.out_h; i0 += band) {
      const std::int64_t i1 = std::min(i0 + band, s.out_h), cols = (i1 - i0) * s.out_w;
      View<T> c(col, K, cols, Eigen::OuterStride<>(cols));
      const ConstView<T> g(dyn + i0 * s.out_w, M, cols, Eigen::OuterStride<>(N));
      c.noalias() = w.transpose() * g;
      col2im_band_add(s, col, i0, i1, dxn);
    }
  });
}

// Per-sample filter gradients of up to this many bytes are held at once (then added into dweight).
constexpr std::int64_t kPartialBytes = std::int64_t{16} << 20;

template <class T>
void conv2d_backward_filter(const ConvShape& s, const T* x, const T* dy, T* dweight, T* dbias) {
  const std::int64_t K = col_rows(s), N = out_hw(s), M = s.out_channels;
  const bool pointwise = is_pointwise(s);
  const std::int64_t band = band_rows<T>(s);
  // dweight (C_out, K) = sum_n dw_n, dw_n = sum_band dy_n[:, band] (C_out, band) col_band^T (band, K): each
  // dw_n into its own buffer (one thread per sample when that pays), then added in sample order, so the
  // bits do not depend on the thread count. Groups of samples bound the buffers' memory.
  const std::int64_t per = M * K;
  const std::int64_t group = std::clamp<std::int64_t>(kPartialBytes / std::max<std::int64_t>(per * sizeof(T), 1), 1,
                                                      std::max<std::int64_t>(s.batch, 1));
  T* partial = scratch<T, 2>(group * per);
  View<T> dw(dweight, M, K, Eigen::OuterStride<>(K));
  dw.setZero();
  for (std::int64_t g0 = 0; g0 < s.batch; g0 += group) {
    const std::int64_t g1 = std::min(s.batch, g0 + group);
    ConvShape part = s;
    part.batch = g1 - g0;
    for_each_sample<T>(part, pointwise ? 0 : K * band * s.out_w, [&](std::int64_t m, T* col) {
      const std::int64_t n = g0 + m;
      const T* xn = x + n * in_chw(s);
      const T* dyn = dy + n * M * N;
      T* pn = partial + m * per;
      if (pointwise) return gemm<T>(false, true, M, K, N, T(1), dyn, xn, T(0), pn);
      View<T> p(pn, M, K, Eigen::OuterStride<>(K));
      for (std::int64_t i0 = 0; i0 < s.out_h; i0 += band) {
        const std::int64_t i1 = std::min(i0 + band, s.out_h), cols = (i1 - i0) * s.out_w;
        im2col_band(s, xn, i0, i1, col);
        const ConstView<T> g(dyn + i0 * s.out_w, M, cols, Eigen::OuterStride<>(N));
        const ConstView<T> c(col, K, cols, Eigen::OuterStride<>(cols));
        if (i0 == 0)
          p.noalias() = g * c.transpose();
        else
          p.noalias() += g * c.transpose();
      }
    });
    for (std::int64_t m = 0; m < g1 - g0; ++m) {
      const T* pn = partial + m * per;
      for (std::int64_t i = 0; i < per; ++i) dweight[i] += pn[i];
    }
  }
  if (dbias != nullptr) {
    // Per channel, in double, in a fixed order (sample, then 16 lanes over positions).
#pragma omp parallel for schedule(static) if (M * N * s.batch >= kParallelGrain)
    for (std::int64_t o = 0; o < M; ++o) {
      double acc = 0;
      for (std::int64_t n = 0; n < s.batch; ++n) {
        Lanes part;
        part.add(dy + (n * M + o) * N, N);
        acc += part.total();
      }
      dbias[o] = static_cast<T>(acc);
    }
  }
}

template <class T>
void conv2d_backward_filter_stacked(const ConvShape& s, int num_tasks, const T* x, const T* dy, T* dweight, T* dbias) {
  ConvShape stacked = s;
  stacked.out_channels = s.out_channels * num_tasks;  // task t's channels are rows [t C_out, (t+1) C_out)
  conv2d_backward_filter(stacked, x, dy, dweight, dbias);
}

#define GN_INSTANTIATE(T)                                                                \
  template void im2col<T>(const ConvShape&, const T*, T*);                               \
  template void col2im<T>(const ConvShape&, const T*, T*);                               \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);   \
  template void conv2d_backward_data<T>(const ConvShape&, const T*, const T*, T*);       \
  template void conv2d_backward_filter<T>(const ConvShape&, const T*, const T*, T*, T*); \
  template void conv2d_backward_filter_stacked<T>(const ConvShape&, int, const T*, const T*, T*, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
