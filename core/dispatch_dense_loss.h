#pragma once
// Dispatch for the dense-prediction loss kernels and the nearest resize of targets: each function runs
// kernels/cpu/dense_loss.h for a CPU device and kernels/cuda/dense_loss.h (on the device's stream)
// otherwise. The loss value, the valid count and the upstream gradient are pointers into the tensors' own
// memory (device memory on CUDA), so no call reads a value back to the host.
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "kernels/dense_loss_math.h"

namespace gn::dispatch {

// out[0] = mean penalty over elements with target > 0 (0 if none), counted[0] = their number.
template <class T>
void masked_regression(Device d, MaskedPenalty k, std::int64_t n, const T* pred, const T* target, T* out,
                       std::int64_t* counted);
// grad = g[0] / counted[0] * d penalty / d pred where target > 0, 0 elsewhere; overwrites.
template <class T>
void masked_regression_backward(Device d, MaskedPenalty k, std::int64_t n, const T* pred, const T* target, const T* g,
                                const std::int64_t* counted, T* grad);

// (N, C, S): out[0] = mean of 1 - cos over pixels whose target is not all zero (0 if none), counted[0].
template <class T>
void normal_cosine(Device d, std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target, T* out,
                   std::int64_t* counted);
template <class T>
void normal_cosine_backward(Device d, std::int64_t N, std::int64_t C, std::int64_t S, const T* pred, const T* target,
                            const T* g, const std::int64_t* counted, T* grad);

// (planes, H, W) -> (planes, OH, OW), nearest neighbour, elements of elem bytes; overwrites y.
void resize_nearest2d(Device d, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                      std::size_t elem, const void* x, void* y);

}  // namespace gn::dispatch
