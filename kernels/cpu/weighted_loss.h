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

// Divergence record: the first step at which a loss, a squared gradient norm or a weight is not finite.
// record (4 int64): [0] step + 1 (0: nothing recorded yet), [1] task, [2] quantity (kDivergedLoss,
// kDivergedNorm, kDivergedWeight), [3] value (kDivergedNaN, kDivergedPosInf, kDivergedNegInf). Once set it is
// never overwritten, so a device-side record can be read at the next sync point and still name the first
// step. Checks, in this order, losses[0..T), sq_norms[0..T) (when not null), weights[0..T) (when not null).
inline constexpr std::int64_t kDivergedLoss = 0, kDivergedNorm = 1, kDivergedWeight = 2;
inline constexpr std::int64_t kDivergedNaN = 0, kDivergedPosInf = 1, kDivergedNegInf = 2;
template <class W>
void record_nonfinite(int num_tasks, const double* losses, const double* sq_norms, const W* weights, std::int64_t step,
                      std::int64_t* record);

}  // namespace gn::cpu
