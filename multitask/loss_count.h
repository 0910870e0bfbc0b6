#pragma once
// How many terms a masked task loss averages over: the valid positions of a target, counted by the same
// rules the loss kernels use (kernels/dense_loss_math.h, cross_entropy's ignore index). Data parallelism
// needs these counts: a masked mean over the global batch is sum_r (sum of rank r's valid terms) / (the
// global count), not the mean of the ranks' means, so each rank's share of task i's loss is
// count_i,r / count_i (multitask/step.h, "Masked losses"). The counts are host numbers (a CUDA target is
// copied to the host first: a sync point, taken only in data-parallel steps).
#include <cstdint>

#include "core/tensor.h"

namespace gn::multitask {

// Depth (masked_mse_loss, masked_l1_loss): elements with target > 0 (NaN and 0 do not count).
double count_positive(const Tensor& target);
// Labels (cross_entropy): int64 labels different from ignore_index.
double count_not_ignored(const Tensor& labels, std::int64_t ignore_index);
// Normals (normal_cosine_loss): positions of target (N, C, ...) whose vector along dim 1 has |t|^2 > 0.
double count_nonzero_vectors(const Tensor& target);

}  // namespace gn::multitask
