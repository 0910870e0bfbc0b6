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
    // Four independent accumulators let the compiler vectorise without changing the order run to run.
    double acc[4] = {0, 0, 0, 0};
    std::int64_t j = 0;
    for (; j + 4 <= p.n; j += 4)
      for (int k = 0; k < 4; ++k) acc[k] += static_cast<double>(p.data[j + k]) * static_cast<double>(p.data[j + k]);
    for (; j < p.n; ++j) acc[0] += static_cast<double>(p.data[j]) * static_cast<double>(p.data[j]);
    const double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    sq_norms[p.task] += s;
    nonfinite[p.task] = nonfinite[p.task] || !std::isfinite(s);
  }
}

template void per_task_sq_norms<float>(int, std::span<const TaskPiece<float>>, double*, bool*);
template void per_task_sq_norms<double>(int, std::span<const TaskPiece<double>>, double*, bool*);

}  // namespace gn::cpu
