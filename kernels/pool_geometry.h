#pragma once
// Geometry shared by the CPU (kernels/cpu/pool.cpp) and CUDA (kernels/cuda/pool.cu) pooling, unpooling and
// upsampling kernels, so both backends compute the same source indices and weights with the same
// arithmetic. NCHW throughout; a "plane" is one (n, c) image of H x W elements.
#include <cstdint>

#if defined(__CUDACC__)
#define GN_HOST_DEVICE __host__ __device__
#else
#define GN_HOST_DEVICE
#endif

namespace gn {

// max_pool2d over `planes` planes: input H x W, output OH x OW, window kh x kw, stride sh x sw, implicit
// -inf padding ph x pw (dilation 1, floor mode: OH = (H + 2 ph - kh) / sh + 1).
struct Pool2dGeometry {
  std::int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
};

// Nearest-neighbour source index of output position o along an axis of `in` -> `out` elements, as
// PyTorch's legacy 'nearest' mode (upsample_nearest2d without scale factors): floor(o * (in / out)) with
// the scale in float, clamped to in - 1. Non-decreasing in o.
GN_HOST_DEVICE inline std::int64_t nearest_source(std::int64_t o, std::int64_t in, std::int64_t out) {
  if (in == out) return o;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const auto i = static_cast<std::int64_t>(static_cast<float>(o) * scale);
  return i < in - 1 ? i : in - 1;
}

// The two taps of linear interpolation at output position o along one axis: value = l0 x[i0] + l1 x[i1]
// (i1 = i0 at the last input). PyTorch's area_pixel_compute_source_index: with align_corners the corner
// samples coincide (src = o (in - 1) / (out - 1)); without, pixel centres are aligned
// (src = (o + 0.5) in / out - 0.5, clamped at 0). Computed in T (float for float32, double for float64).
template <class T>
struct LinearTaps {
  std::int64_t i0, i1;
  T l0, l1;
};
template <class T>
GN_HOST_DEVICE inline LinearTaps<T> linear_taps(std::int64_t o, std::int64_t in, std::int64_t out, bool align_corners) {
  T src;
  if (align_corners) {
    const T scale = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
    src = scale * static_cast<T>(o);
  } else {
    const T scale = static_cast<T>(in) / static_cast<T>(out);
    src = scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
    if (src < T(0)) src = T(0);
  }
  LinearTaps<T> t;
  t.i0 = static_cast<std::int64_t>(src);
  if (t.i0 > in - 1) t.i0 = in - 1;
  t.i1 = t.i0 < in - 1 ? t.i0 + 1 : t.i0;
  t.l1 = src - static_cast<T>(t.i0);
  t.l0 = T(1) - t.l1;
  return t;
}

}  // namespace gn
