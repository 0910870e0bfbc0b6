#pragma once
// Per-task gradient-norm reduction (GradNorm step 4), CPU reference.
//
// Each task owns one or more contiguous pieces of memory (e.g. its slice of the stacked weight gradient
// and its slice of the stacked bias gradient). One call produces all T squared norms.
#include <cstdint>
#include <span>

namespace gn::cpu {

template <class T>
struct TaskPiece {
  int task;       // which of the T outputs this piece adds into
  const T* data;  // n contiguous elements
  std::int64_t n;
};

// sq_norms[t] = sum over task t's pieces of sum_j data[j]^2, accumulated in double in piece order, so
// the result is deterministic. nonfinite[t] is set when any element of task t is inf or NaN (then
// sq_norms[t] is NaN or inf too). Overwrites both outputs for every t in [0, num_tasks).
template <class T>
void per_task_sq_norms(int num_tasks, std::span<const TaskPiece<T>> pieces, double* sq_norms, bool* nonfinite);

}  // namespace gn::cpu
