#pragma once
// LibMTL's NYUv2 augmentation (examples/nyu: RandomScaleCrop, then a horizontal flip), on CHW tensors:
//   scale s from {1.0, 1.2, 1.5}; a random crop of (h, w) = (int(H / s), int(W / s)) at (top, left), top in
//   [0, H - h], left in [0, W - w]; resized back to (H, W): images, normals and heatmaps bilinearly
//   (align_corners = true, as LibMTL), labels and depth by nearest neighbour (PyTorch's 'nearest': source
//   index floor(dst * in / out)); depth divided by s (the scene looks s times closer); then, with p = 0.5, a
//   horizontal flip that also negates the normals' x.
// Normals are renormalised after interpolation (LibMTL leaves them as interpolated); a pixel whose nearest
// source normal is invalid (all zero) stays invalid, so the invalid masks of labels, depth and normals move
// together.
#include <cstdint>

#include "core/tensor.h"

namespace gn::nyuv2 {

struct AugmentParams {
  double scale = 1.0;
  std::int64_t top = 0, left = 0;  // the crop's corner
  std::int64_t crop_h = 0, crop_w = 0;
  bool flip = false;
  bool identity() const { return scale == 1.0 && !flip; }
};

// The scales LibMTL draws from.
inline constexpr double kAugmentScales[] = {1.0, 1.2, 1.5};
// Draws one sample's parameters for an (H, W) image from `seed` (the same seed, the same parameters).
AugmentParams draw_augment(std::int64_t H, std::int64_t W, std::uint64_t seed);

// Each returns a new tensor of the same shape, (C, H, W) or (H, W) (C = 1 implied):
// bilinear crop-resize (+ flip) for images and heatmaps (float32).
Tensor augment_bilinear(const Tensor& x, const AugmentParams& a);
// nearest crop-resize (+ flip) for labels (int64) and depth (float32; the caller divides by the scale).
Tensor augment_nearest(const Tensor& x, const AugmentParams& a);
// normals (3, H, W): bilinear, renormalised, invalid where the nearest source is invalid, x negated on flip.
Tensor augment_normals(const Tensor& n, const AugmentParams& a);

}  // namespace gn::nyuv2
