#pragma once
// Dense-prediction losses (depth, surface normals) and the nearest-neighbour resize that brings a target
// to its prediction's resolution. Per-pixel math in kernels/dense_loss_math.h (shared with CUDA); sums
// in double over fixed blocks in a fixed order, so a value does not depend on the thread count.
#include <cstddef>
#include <cstdint>

#include "kernels/dense_loss_math.h"

namespace gn::cpu {

// Masked regression over n elements: returns the sum of the penalty over elements with target > 0 and
// writes their number to *counted. Empty mask: returns 0, *counted = 0.
template <class T>
double masked_regression(MaskedPenalty k, std::int64_t n, const T* pred, const T* target, std::int64_t* counted);
// grad[i] = scale * d penalty / d pred[i] where target[i] > 0, 0 elsewhere; overwrites grad.
template <class T>
void masked_regression_backward(MaskedPenalty k, std::int64_t n, const T* pred, const T* target, double scale, T* grad);

// Cosine loss over pred, target viewed as (N, C, S): returns the sum of 1 - cos over pixels whose target
// vector is not all zero and writes their number to *counted.
template <class T>
double normal_cosine(std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target,
                     std::int64_t* counted);
// grad (N, C, S) = scale * d(1 - cos)/d pred at valid pixels, 0 elsewhere; overwrites grad.
template <class T>
void normal_cosine_backward(std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target,
                            double scale, T* grad);

// y (planes, OH, OW) from x (planes, H, W) by nearest neighbour (nearest_source, kernels/pool_geometry.h),
// elements of elem bytes (4 or 8: any dtype); a copy, no arithmetic. Overwrites y.
void resize_nearest2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                      std::size_t elem, const void* x, void* y);

}  // namespace gn::cpu
