#pragma once
// The GradNorm weight update (GradNorm step 5) entirely on the device, for the CUDA training step: one
// single-block kernel, no host synchronisation, so the step can be captured in a CUDA graph.
//
// It does what kernels/cpu/gradnorm_update.cpp's gradnorm_update does, over the same GradNormBuffers
// (kernels/gradnorm_update_state.h: options, state, outputs and the order of the arithmetic), in double
// precision, with every sum in task order on one thread as the CPU loops add; so the two agree up to
// the last-bit differences of pow and fused multiply-adds.
//
// Failure without a host sync: a kernel cannot throw, so bad numbers set *status and commit nothing;
// the host reads status when it reads the diagnostics (a logging step), as the CPU caller does at once.
// Plain C++ header: includes no CUDA headers.
#include <cstdint>

#include "kernels/cuda/stream.h"
#include "kernels/gradnorm_update_state.h"

namespace gn::cuda {

inline constexpr int kGradNormMaxTasks = 512;  // the kernel keeps 10 doubles per task in shared memory

// One GradNorm update. losses: (T) L_i(t); norms: (T) G_i or G_i^2 (options.squared_norms); norm_flags:
// (T) the non-finite flags of per_task_sq_norms, or nullptr; buffers: the state and outputs, all device
// pointers; weights_out: (T) w in the model's dtype (W = float or double), written on success.
// update: this update's 1-based count (the host counts them). 1 <= T <= kGradNormMaxTasks.
// Asynchronous on s; never reads anything back.
template <class W>
void gradnorm_update(int num_tasks, const double* losses, const double* norms, const int* norm_flags,
                     const GradNormBuffers& buffers, W* weights_out, const GradNormUpdateOptions& options,
                     std::int64_t update, Stream s);

}  // namespace gn::cuda
