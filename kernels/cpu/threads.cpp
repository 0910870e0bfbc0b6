#include "kernels/cpu/threads.h"

#include <omp.h>

#include <Eigen/Core>

#include "kernels/error.h"

namespace gn::cpu {

void set_num_threads(int n) {
  GN_CHECK(n >= 1, "set_num_threads: thread count must be at least 1, got {}", n);
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace gn::cpu
