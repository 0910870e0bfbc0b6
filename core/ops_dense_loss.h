#pragma once
// Pixel-wise losses for dense prediction (NYUv2-style depth and surface normals) and the nearest resize
// behind the resolution rule; declarations here, definitions in core/ops_dense_loss.cpp. Included by
// core/ops.h. Formulas, mask rules and the resolution rule with its reasons: docs/dense-tasks.md.
// Semantic segmentation needs nothing new: cross_entropy (core/ops.h) over (N, C, H, W) logits and int64
// (N, H, W) labels with ignore_index = -1.
//
// The three losses share these rules:
//  - float32 or float64; CPU and CUDA; accumulation in double; deterministic (fixed-order sums, the same
//    value for every CPU thread count and on every run).
//  - pred and target have the same shape, dtype and device. An empty prediction is a shape bug and throws.
//  - The loss is the mean over VALID pixels only. The number of valid pixels is counted where the loss
//    is computed (device memory on CUDA) and kept for the backward: no host sync.
//  - No valid pixel in the batch: the loss is 0 and every gradient is exactly 0 (never NaN).
//  - NaN / inf in a target: a NaN target compares false with > 0, so for depth it is an INVALID pixel and
//    silently ignored; for normals a target vector with a NaN has |t|^2 = NaN, which is not > 0, so that
//    pixel is ignored too. An infinite target is valid and propagates: depth gives an infinite loss
//    (masked_mse: an infinite gradient; masked_l1: a finite one), normals give NaN (inf / inf).
//    NaN in a prediction propagates to the loss and to that pixel's gradient.
//  - Gradients reach pred (and, for masked_mse_loss / masked_l1_loss, target: minus pred's); the mask
//    itself is not differentiated.
#include <cstdint>

#include "core/tensor.h"

namespace gn {

// Depth, L2: pixels with target > 0 count (0 = no measurement). loss = sum_valid (p - t)^2 / count;
// d loss / dp = 2 (p - t) / count at valid pixels, 0 elsewhere. Any shape; depth maps are (N, 1, H, W).
Tensor masked_mse_loss(const Tensor& pred, const Tensor& target);
// Depth, L1 (LibMTL's depth loss): same mask; loss = sum_valid |p - t| / count; d loss / dp =
// sign(p - t) / count at valid pixels (0 where p == t), 0 elsewhere.
Tensor masked_l1_loss(const Tensor& pred, const Tensor& target);
// Surface normals: pred, target (N, C, ...) with the vector along dim 1 (C >= 1; NYUv2 has C = 3). A pixel
// counts where its target vector is not all zero. loss = mean over valid pixels of 1 - cos(p, t) with
// cos = <p / max(|p|, eps), t / |t|>, eps = 1e-12 (F.normalize's floor). The gradient is exact: for
// |p| > eps, -(t_hat - cos p_hat) / |p| per pixel, times upstream / count; for |p| <= eps, -t_hat / eps
// (the derivative of p / eps). The target gets no gradient.
Tensor normal_cosine_loss(const Tensor& pred, const Tensor& target);

// ---- the resolution rule ----
// x (..., H, W), any dtype (int64 labels included; rank >= 2) -> (..., out_h, out_w) by nearest neighbour,
// PyTorch's mode='nearest': source index floor(o * in / out) (scale in float, clamped; the same indices as
// upsample_nearest2d). Every output value is a copy of an input value. Forward only: not recorded by
// autograd (it resizes targets, which need no gradient); use upsample_nearest2d to differentiate.
Tensor resize_nearest2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w);
// The rule every dense task loss applies first: when target's last two dims differ from pred's, target is
// resized to pred's resolution with resize_nearest2d; otherwise target is returned as it is. Nearest never
// mixes a valid and an invalid value (depth 0, label -1, an all-zero normal) and keeps unit normals unit.
Tensor match_resolution(const Tensor& target, const Tensor& pred);

}  // namespace gn
