#pragma once
// Dense predictions at the target's resolution: what the dense metrics judge (multitask/dense_metrics.h)
// and what an app dumps. A network may predict at a lower resolution (h, w) than its targets (H, W); these
// functions bring a prediction to (H, W) by bilinear upsampling with align_corners = false (PyTorch's
// F.interpolate(..., mode='bilinear', align_corners=False)), and return it unchanged in size when
// (h, w) == (H, W). They record no autograd graph. The argmax and the normalisation run on the host in
// double (evaluation, not the training step); the result goes back to the prediction's device.
#include <cstdint>

#include "core/tensor.h"

namespace gn::multitask {

// logits: float (N, C, h, w) -> int64 (N, H, W): the argmax over C of the logits upsampled to (H, W)
// (upsampling the logits, not the labels). Ties go to the lowest class; a NaN logit is an error.
Tensor segmentation_labels(const Tensor& logits, std::int64_t H, std::int64_t W);

// pred: float (N, 1, h, w) -> (N, 1, H, W), bilinear.
Tensor depth_at(const Tensor& pred, std::int64_t H, std::int64_t W);

// pred: float (N, 3, h, w) -> (N, 3, H, W): bilinear, then every pixel's 3-vector divided by
// max(||v||_2, 1e-12) (PyTorch's F.normalize), so a zero vector stays zero.
Tensor normals_at(const Tensor& pred, std::int64_t H, std::int64_t W);

}  // namespace gn::multitask
