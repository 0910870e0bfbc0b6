#pragma once
#include <cstdint>

namespace gn::cpu {

// Mean squared error over n elements: returns sum((pred - target)^2) / n (accumulated in double).
template <class T>
double mse(std::int64_t n, const T* pred, const T* target);
// grad = scale * 2 (pred - target) / n; overwrites grad.
template <class T>
void mse_backward(std::int64_t n, const T* pred, const T* target, T scale, T* grad);

// Cross-entropy over logits viewed as (N, C, S) (S = spatial positions, 1 for plain classification),
// labels (N, S). Returns the summed -log softmax over counted positions and writes the count of
// positions whose label != ignore_index. Throws on a label outside [0, C) that is not ignore_index.
template <class T>
double cross_entropy(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                     std::int64_t ignore_index, std::int64_t* counted);
// grad = scale * (softmax(logits) - onehot(label)) at counted positions, 0 at ignored ones; overwrites.
template <class T>
void cross_entropy_backward(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                            std::int64_t ignore_index, T scale, T* grad);

}  // namespace gn::cpu
