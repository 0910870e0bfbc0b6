#pragma once
// CUDA losses. Loss values and upstream gradients stay in device memory (no host round trip).
#include <cstdint>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

// out[0] = mean((pred - target)^2) over n elements (deterministic two-pass sum); overwrites.
template <class T>
void mse(std::int64_t n, const T* pred, const T* target, T* out, Stream s);
// grad = g[0] * 2 (pred - target) / n, g a device scalar (the loss's upstream gradient); overwrites.
template <class T>
void mse_backward(std::int64_t n, const T* pred, const T* target, const T* g, T* grad, Stream s);

// Cross-entropy over logits (N, C, S), labels (N, S) int64. Writes out[0] = mean over counted positions
// (0 if none), counted[0] = number of positions with label != ignore_index, and bad_label[0] = 1 if any
// label is outside [0, C) and not ignore_index (else 0). All three are device pointers; overwrites.
template <class T>
void cross_entropy(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                   std::int64_t ignore_index, T* out, std::int64_t* counted, int* bad_label, Stream s);
// grad = g[0] / max(counted[0], 1) * (softmax - onehot) at counted positions, 0 elsewhere; overwrites.
template <class T>
void cross_entropy_backward(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                            std::int64_t ignore_index, const T* g, const std::int64_t* counted, T* grad, Stream s);

}  // namespace gn::cuda
