#pragma once
// Fused weighted-loss kernels (GradNorm steps 2, 3 and 6) on CUDA: same math and layouts as
// kernels/cpu/weighted_loss.h; every data pointer is a device pointer, the weights w are read from device
// memory (so the GradNorm update can write them on the device with no host round trip) and the loss
// values stay on the device. Each function keeps its numbered variants for the kernel lab
// (benchmarks/kernel_lab/weighted_loss_lab.cpp); weighted_loss.cu explains each one.
// Plain C++ header: includes no CUDA headers.
#include <cstdint>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

inline constexpr int kCombineVariants = 2;
inline constexpr int kCombineDefaultVariant = 2;
inline constexpr int kMultitaskMseVariants = 3;
inline constexpr int kMultitaskMseDefaultVariant = 3;
// multitask_mse passes the T pointer triples to the kernel by value (no upload, no host sync, capturable
// in a CUDA graph), which bounds T.
inline constexpr int kMaxFusedTasks = 64;

// deltas: (B, T*D), task t owning columns [t*D, (t+1)*D); w: (T) or nullptr (all ones); out: (B, D).
// out = sum_t w[t] * deltas[:, t*D:(t+1)*D], adding t = 0, 1, ... in order (as the CPU reference).
// Overwrites out; one pass over the deltas. Runs kCombineDefaultVariant.
template <class T>
void combine_task_blocks(std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out, Stream s);
// The same with an explicit variant in [1, kCombineVariants], for the kernel lab and the tests.
template <class T>
void combine_task_blocks_variant(int variant, std::int64_t B, int num_tasks, std::int64_t D, const T* deltas,
                                 const T* w, T* out, Stream s);

// Fused multitask MSE, T = num_tasks <= kMaxFusedTasks tasks of n elements each:
//   losses[t]   = mean_j (preds[t][j] - targets[t][j])^2
//   grads[t][j] = k_t * (preds[t][j] - targets[t][j]),  k_t = T(2) * w[t] / T(n)   (d (w_t L_t) / d pred_t)
// preds, targets, grads: HOST arrays of T device pointers (as the CPU reference); w: (T) device;
// losses: (T) double, device. Overwrites losses and every grads[t] (n = 0: losses 0, grads untouched).
// Float input accumulates the squares in float within a block, in double across blocks. Deterministic.
// Variants 2 and 3 use this file's static device scratch: one call at a time per device (calls on one
// stream are fine). Runs kMultitaskMseDefaultVariant.
template <class T>
void multitask_mse(int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                   double* losses, T* const* grads, Stream s);
// The same with an explicit variant in [1, kMultitaskMseVariants], for the kernel lab and the tests.
template <class T>
void multitask_mse_variant(int variant, int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets,
                           const T* w, double* losses, T* const* grads, Stream s);

// The divergence record of kernels/cpu/weighted_loss.h (record_nonfinite) on the device: one tiny
// single-thread kernel over the T values, no host sync; record is 4 device int64, read at the caller's
// next sync point. sq_norms and weights may be null.
template <class W>
void record_nonfinite(int num_tasks, const double* losses, const double* sq_norms, const W* weights, std::int64_t step,
                      std::int64_t* record, Stream s);

}  // namespace gn::cuda
