#pragma once
// Fused weighted-loss kernels (GradNorm steps 2, 3 and 6), CPU reference.
#include <cstdint>

namespace gn::cpu {

// The T per-task gradients at the shared representation z sit side by side in one (B, T*D) buffer:
// task t owns columns [t*D, (t+1)*D). (That layout is also what the batched per-task weight-gradient
// GEMM reads.) out (B, D) = sum_t w[t] * deltas[:, t*D:(t+1)*D], w == nullptr meaning all ones.
// One pass over the deltas; overwrites out.
template <class T>
void combine_task_blocks(std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out);

// Fused multitask MSE: for each task t, pred[t] and target[t] hold n elements.
//   losses[t] = mean_j (pred[t][j] - target[t][j])^2          (double accumulation)
//   grads[t][j] = w[t] * 2 (pred[t][j] - target[t][j]) / n    (d (w_t L_t) / d pred_t)
// Loss values and weighted gradient in one pass; w is read from memory (device memory on CUDA), so
// no host round trip is needed. Overwrites losses and grads.
template <class T>
void multitask_mse(int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                   double* losses, T* const* grads);

// The same in float64 whatever T is: the float64 reference the CUDA tests and kernel lab validate
// against. grads are double arrays. Overwrites losses and grads.
template <class T>
void multitask_mse_float64(int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                           double* losses, double* const* grads);

}  // namespace gn::cpu
