#pragma once
// The dispatch point of the GradNorm kernels: per-task gradient norms, the fused multitask MSE and
// combine, and the weight update. Each runs the CPU kernel (kernels/cpu) or the CUDA kernel
// (kernels/cuda, on the device's stream) for the device it is given; the multitask code calls only these.
#include <cstdint>
#include <memory>
#include <span>

#include "core/device.h"
#include "core/dtype.h"
#include "kernels/gradnorm_update_state.h"

namespace gn::dispatch {

// Fused multitask MSE over T tasks of n elements: losses[t] = mean (pred - target)^2 (double), grads[t] =
// w[t] 2 (pred - target) / n; w (T) in the model's dtype, in device memory. Overwrites losses and grads.
template <class T>
void multitask_mse(Device d, int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                   double* losses, T* const* grads);

// deltas (B, T*D), task t in columns [t*D, (t+1)*D) -> out (B, D) = sum_t w[t] deltas_t (w == nullptr:
// all ones). Overwrites out.
template <class T>
void combine_task_blocks(Device d, std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out);

// The divergence record (kernels/cpu/weighted_loss.h record_nonfinite): record (4 int64) in memory of
// device d keeps the first step at which a loss, a squared norm (sq_norms may be null) or a weight (weights
// may be null) is not finite. No host sync on any device.
template <class W>
void record_nonfinite(Device d, int num_tasks, const double* losses, const double* sq_norms, const W* weights,
                      std::int64_t step, std::int64_t* record);

// One GradNorm weight update (kernels/gradnorm_update_state.h). Every pointer in memory of device d.
template <class W>
void gradnorm_update(Device d, int num_tasks, const double* losses, const double* norms, const int* norm_flags,
                     const GradNormBuffers& buffers, W* weights_out, const GradNormUpdateOptions& options,
                     std::int64_t update);

// One contiguous piece of task `task`'s gradient: n elements of the plan's dtype at data.
struct TaskSegment {
  int task;
  const void* data;
  std::int64_t n;
};

// Squared per-task norms of many segments in ONE kernel call, accumulated in double in a fixed order.
// The CUDA kernel reads its segment table from device memory: the plan uploads it once and again only
// when the segments change, so keep one plan per call site.
class TaskNormPlan {
 public:
  TaskNormPlan();
  ~TaskNormPlan();
  TaskNormPlan(TaskNormPlan&&) noexcept;
  TaskNormPlan& operator=(TaskNormPlan&&) noexcept;

  // sq_norms (T) float64 and nonfinite (T) int flags, in memory of device d: overwritten.
  void run(Device d, DType dtype, int num_tasks, std::span<const TaskSegment> segments, double* sq_norms,
           int* nonfinite);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gn::dispatch
