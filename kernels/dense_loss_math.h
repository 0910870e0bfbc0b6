#pragma once
// Per-pixel math of the dense-prediction losses, shared by the CPU (kernels/cpu/dense_loss.cpp) and CUDA
// (kernels/cuda/dense_loss.cu) kernels so that both backends decide validity and compute each term and
// its derivative with the same arithmetic (double throughout). See docs/dense-tasks.md.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define GN_HOST_DEVICE __host__ __device__
#else
#define GN_HOST_DEVICE
#endif

namespace gn {

// ---- masked regression (depth): a pixel counts where its target is > 0 ----

enum class MaskedPenalty { Squared, Absolute };  // (p - t)^2 or |p - t|

// A target counts when t > 0: 0 means "no measurement". A NaN target compares false, so it does not count.
GN_HOST_DEVICE inline bool depth_valid(double t) { return t > 0; }

// The penalty of one valid pixel.
GN_HOST_DEVICE inline double masked_term(MaskedPenalty k, double p, double t) {
  const double d = p - t;
  return k == MaskedPenalty::Squared ? d * d : (d < 0 ? -d : d);
}
// Its derivative wrt p: 2 (p - t), or sign(p - t) (0 at p == t, as torch.sign).
GN_HOST_DEVICE inline double masked_term_grad(MaskedPenalty k, double p, double t) {
  const double d = p - t;
  if (k == MaskedPenalty::Squared) return 2 * d;
  return d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
}

// ---- surface normals: 1 - cos(p, t) at a pixel of C channels (stride S apart) ----

// F.normalize's floor on |p|: p_hat = p / max(|p|, eps).
inline constexpr double kNormalEps = 1e-12;

// |p|^2, |t|^2 and <p, t> at one pixel: channel c of p at p[c * S].
struct NormalPixel {
  double pp = 0, tt = 0, pt = 0;
};
template <class T>
GN_HOST_DEVICE inline NormalPixel normal_pixel(const T* p, const T* t, std::int64_t C, std::int64_t S) {
  NormalPixel r;
  for (std::int64_t c = 0; c < C; ++c) {
    const double pc = static_cast<double>(p[c * S]), tc = static_cast<double>(t[c * S]);
    r.pp += pc * pc;
    r.tt += tc * tc;
    r.pt += pc * tc;
  }
  return r;
}

// A pixel counts when its target vector is not all zero (|t|^2 > 0; a NaN target compares false).
GN_HOST_DEVICE inline bool normal_valid(const NormalPixel& px) { return px.tt > 0; }

// max(|p|, eps) and cos = <p / max(|p|, eps), t / |t|> of a valid pixel.
GN_HOST_DEVICE inline double normal_pred_norm(const NormalPixel& px) {
  const double np = sqrt(px.pp);
  return np > kNormalEps ? np : kNormalEps;
}
GN_HOST_DEVICE inline double normal_cos(const NormalPixel& px) { return px.pt / (normal_pred_norm(px) * sqrt(px.tt)); }

// d(1 - cos)/dp_c at a valid pixel, for channel values pc, tc:
//   |p| > eps:  -(t_c / |t| - cos p_c / |p|) / |p|
//   |p| <= eps: -t_c / (|t| eps)    (p_hat = p / eps is linear in p)
GN_HOST_DEVICE inline double normal_term_grad(const NormalPixel& px, double pc, double tc) {
  const double d = normal_pred_norm(px), nt = sqrt(px.tt);
  const double radial = sqrt(px.pp) > kNormalEps ? normal_cos(px) * pc / d : 0.0;
  return -(tc / nt - radial) / d;
}

}  // namespace gn
