#include "apps/nyuv2/augment.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace gn::nyuv2 {

namespace {

struct Planes {
  std::int64_t C, H, W;
};

Planes planes_of(const Tensor& x, const char* what) {
  GN_CHECK(x.device().is_cpu() && (x.dim() == 2 || x.dim() == 3),
           "{}: expected a CPU (C, H, W) or (H, W) tensor, got {}", what, to_string(x.shape()));
  if (x.dim() == 2) return {1, x.shape()[0], x.shape()[1]};
  return {x.shape()[0], x.shape()[1], x.shape()[2]};
}

void check_params(const AugmentParams& a, const Planes& p, const char* what) {
  GN_CHECK(a.crop_h >= 1 && a.crop_w >= 1 && a.top >= 0 && a.left >= 0 && a.top + a.crop_h <= p.H &&
               a.left + a.crop_w <= p.W,
           "{}: the crop ({}, {}) + ({}, {}) does not fit a {}x{} image", what, a.top, a.left, a.crop_h, a.crop_w, p.H,
           p.W);
}

// The source column of output column x after the flip.
std::int64_t unflip(std::int64_t x, std::int64_t W, bool flip) { return flip ? W - 1 - x : x; }

// align_corners = true: output i of n samples input (i * (in - 1) / (n - 1)) of the crop.
double corner_aligned(std::int64_t i, std::int64_t in, std::int64_t n) {
  return n > 1 ? static_cast<double>(i) * static_cast<double>(in - 1) / static_cast<double>(n - 1) : 0.0;
}
// PyTorch 'nearest': floor(i * in / n), clamped.
std::int64_t nearest(std::int64_t i, std::int64_t in, std::int64_t n) {
  return std::min(in - 1, static_cast<std::int64_t>(
                              std::floor(static_cast<double>(i) * static_cast<double>(in) / static_cast<double>(n))));
}

// Bilinear weights of output pixel (y, x) (before the flip) within the crop: corners and fractions.
struct Tap {
  std::int64_t y0, y1, x0, x1;
  double fy, fx;
};
Tap tap(const AugmentParams& a, std::int64_t H, std::int64_t W, std::int64_t y, std::int64_t x) {
  const double sy = corner_aligned(y, a.crop_h, H), sx = corner_aligned(x, a.crop_w, W);
  const auto y0 = static_cast<std::int64_t>(std::floor(sy)), x0 = static_cast<std::int64_t>(std::floor(sx));
  const std::int64_t y1 = std::min(y0 + 1, a.crop_h - 1), x1 = std::min(x0 + 1, a.crop_w - 1);
  return {a.top + y0, a.top + y1, a.left + x0, a.left + x1, sy - static_cast<double>(y0), sx - static_cast<double>(x0)};
}
double sample(const float* p, std::int64_t W, const Tap& t) {
  const double top = p[t.y0 * W + t.x0] * (1 - t.fx) + p[t.y0 * W + t.x1] * t.fx;
  const double bottom = p[t.y1 * W + t.x0] * (1 - t.fx) + p[t.y1 * W + t.x1] * t.fx;
  return top * (1 - t.fy) + bottom * t.fy;
}

}  // namespace

AugmentParams draw_augment(std::int64_t H, std::int64_t W, std::uint64_t seed) {
  Generator g(seed);
  AugmentParams a;
  a.scale = kAugmentScales[g.next_u64() % 3];
  a.crop_h = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(H) / a.scale));
  a.crop_w = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(W) / a.scale));
  a.top = static_cast<std::int64_t>(g.next_u64() % static_cast<std::uint64_t>(H - a.crop_h + 1));
  a.left = static_cast<std::int64_t>(g.next_u64() % static_cast<std::uint64_t>(W - a.crop_w + 1));
  a.flip = g.uniform() < 0.5;
  return a;
}

Tensor augment_bilinear(const Tensor& x, const AugmentParams& a) {
  const Planes p = planes_of(x, "augment_bilinear");
  check_params(a, p, "augment_bilinear");
  const Tensor in = x.to(DType::Float32);
  Tensor out = Tensor::empty(x.shape(), DType::Float32);
  const float* src = in.data<float>();
  float* dst = out.data<float>();
  for (std::int64_t y = 0; y < p.H; ++y) {
    for (std::int64_t xo = 0; xo < p.W; ++xo) {
      const Tap t = tap(a, p.H, p.W, y, unflip(xo, p.W, a.flip));
      for (std::int64_t c = 0; c < p.C; ++c)
        dst[(c * p.H + y) * p.W + xo] = static_cast<float>(sample(src + c * p.H * p.W, p.W, t));
    }
  }
  return out;
}

Tensor augment_nearest(const Tensor& x, const AugmentParams& a) {
  const Planes p = planes_of(x, "augment_nearest");
  check_params(a, p, "augment_nearest");
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  const std::size_t item = dtype_size(x.dtype());
  const auto* src = static_cast<const unsigned char*>(x.raw_data());
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  for (std::int64_t c = 0; c < p.C; ++c) {
    for (std::int64_t y = 0; y < p.H; ++y) {
      const std::int64_t sy = a.top + nearest(y, a.crop_h, p.H);
      for (std::int64_t xo = 0; xo < p.W; ++xo) {
        const std::int64_t sx = a.left + nearest(unflip(xo, p.W, a.flip), a.crop_w, p.W);
        std::copy_n(src + static_cast<std::size_t>((c * p.H + sy) * p.W + sx) * item, item,
                    dst + static_cast<std::size_t>((c * p.H + y) * p.W + xo) * item);
      }
    }
  }
  return out;
}

Tensor augment_normals(const Tensor& n, const AugmentParams& a) {
  const Planes p = planes_of(n, "augment_normals");
  GN_CHECK(n.dim() == 3 && p.C == 3 && n.dtype() == DType::Float32,
           "augment_normals: expected (3, H, W) float32, got {}", to_string(n.shape()));
  check_params(a, p, "augment_normals");
  Tensor out = Tensor::empty(n.shape(), DType::Float32);
  const float* src = n.data<float>();
  float* dst = out.data<float>();
  const std::int64_t HW = p.H * p.W;
  for (std::int64_t y = 0; y < p.H; ++y) {
    const std::int64_t ny = a.top + nearest(y, a.crop_h, p.H);
    for (std::int64_t xo = 0; xo < p.W; ++xo) {
      const std::int64_t xs = unflip(xo, p.W, a.flip);
      const std::int64_t nx = a.left + nearest(xs, a.crop_w, p.W);
      const std::int64_t q = ny * p.W + nx;
      const bool valid = src[q] != 0 || src[HW + q] != 0 || src[2 * HW + q] != 0;
      const Tap t = tap(a, p.H, p.W, y, xs);
      double v[3];
      for (int c = 0; c < 3; ++c) v[c] = valid ? sample(src + c * HW, p.W, t) : 0.0;
      const double norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      const double k = norm > 1e-6 ? 1.0 / norm : 0.0;  // invalid neighbours can cancel a vector out
      if (a.flip) v[0] = -v[0];
      for (int c = 0; c < 3; ++c) dst[c * HW + y * p.W + xo] = v[c] == 0 ? 0.0f : static_cast<float>(v[c] * k);
    }
  }
  return out;
}

}  // namespace gn::nyuv2
