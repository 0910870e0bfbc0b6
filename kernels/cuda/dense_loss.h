#pragma once
// CUDA dense-prediction losses and the nearest resize: the contracts of kernels/cpu/dense_loss.h on a
// stream (asynchronous; pointers are device memory). The loss value, the count of valid pixels and the
// upstream gradient stay in device memory, so a training step never waits on the host. Sums are
// deterministic two-pass reductions in double (kernels/cuda/launch.cuh); the per-pixel math is the CPU's
// (kernels/dense_loss_math.h).
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/stream.h"
#include "kernels/dense_loss_math.h"

namespace gn::cuda {

// out[0] = mean penalty over the n elements with target > 0 (0 when none), counted[0] = their number.
// Overwrites both.
template <class T>
void masked_regression(MaskedPenalty k, std::int64_t n, const T* pred, const T* target, T* out, std::int64_t* counted,
                       Stream s);
// grad = g[0] / max(counted[0], 1) * d penalty / d pred where target > 0, 0 elsewhere; overwrites.
template <class T>
void masked_regression_backward(MaskedPenalty k, std::int64_t n, const T* pred, const T* target, const T* g,
                                const std::int64_t* counted, T* grad, Stream s);

// pred, target viewed as (N, C, S): out[0] = mean of 1 - cos over pixels whose target vector is not all
// zero (0 when none), counted[0] = their number. Overwrites both.
template <class T>
void normal_cosine(std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target, T* out,
                   std::int64_t* counted, Stream s);
// grad (N, C, S) = g[0] / max(counted[0], 1) * d(1 - cos)/d pred at valid pixels, 0 elsewhere; overwrites.
template <class T>
void normal_cosine_backward(std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target, const T* g,
                            const std::int64_t* counted, T* grad, Stream s);

// y (planes, OH, OW) from x (planes, H, W) by nearest neighbour, elements of elem bytes (4 or 8).
void resize_nearest2d(std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                      std::size_t elem, const void* x, void* y, Stream s);

}  // namespace gn::cuda
