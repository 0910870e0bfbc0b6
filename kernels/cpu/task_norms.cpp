#include "kernels/cpu/task_norms.h"

#include <cmath>

#include "kernels/error.h"

namespace gn::cpu {

template <class T>
void per_task_sq_norms(int num_tasks, std::span<const TaskPiece<T>> pieces, double* sq_norms, bool* nonfinite) {
  for (int t = 0; t < num_tasks; ++t) {
    sq_norms[t] = 0;
    nonfinite[t] = false;
  }
  for (const auto& p : pieces) {
    GN_CHECK(p.task >= 0 && p.task < num_tasks, "per_task_sq_norms: piece for task {} but only {} tasks", p.task,
             num_tasks);
    // Sixteen independent double accumulators: the adds no longer wait on each other (one chain is
    // latency-bound at ~1 element per cycle) and the loop vectorises; the order is fixed, so the result
    // is the same on every run.
    constexpr int kLanes = 16;
    double acc[kLanes] = {};
    std::int64_t j = 0;
    for (; j + kLanes <= p.n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const double v = static_cast<double>(p.data[j + k]);
        acc[k] += v * v;
      }
    for (; j < p.n; ++j) acc[0] += static_cast<double>(p.data[j]) * static_cast<double>(p.data[j]);
    for (int width = kLanes / 2; width > 0; width /= 2)  // pairwise, fixed order
      for (int k = 0; k < width; ++k) acc[k] += acc[k + width];
    const double s = acc[0];
    sq_norms[p.task] += s;
    nonfinite[p.task] = nonfinite[p.task] || !std::isfinite(s);
  }
}

template void per_task_sq_norms<float>(int, std::span<const TaskPiece<float>>, double*, bool*);
template void per_task_sq_norms<double>(int, std::span<const TaskPiece<double>>, double*, bool*);

}  // namespace gn::cpu
