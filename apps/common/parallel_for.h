#pragma once
// One loop over independent items (samples to read, convert or render) on OpenMP threads, with the errors
// of the items brought back to the caller: an exception cannot leave an OpenMP region, so each is caught,
// and after the loop the one of the LOWEST index is rethrown (the same message whatever the timing).
#include <omp.h>

#include <cstdint>
#include <exception>
#include <limits>

namespace gn::app {

// f(i) for every i in [0, count), dynamically scheduled. threads: the team size; 0: OpenMP's default; 1: a
// plain loop with no team at all (which matters on a thread that is not the one training: a second team
// makes libgomp count more threads than cores and stop spinning, benchmarks/RESULTS.md), stopping at the
// first error.
template <class F>
void parallel_for_items(std::int64_t count, int threads, const F& f) {
  if (threads == 1) {
    for (std::int64_t i = 0; i < count; ++i) f(i);
    return;
  }
  std::exception_ptr first_error;
  std::int64_t first_index = std::numeric_limits<std::int64_t>::max();
#pragma omp parallel for schedule(dynamic) num_threads(threads > 0 ? threads : omp_get_max_threads())
  for (std::int64_t i = 0; i < count; ++i) {
    try {
      f(i);
    } catch (...) {
#pragma omp critical(gn_parallel_for_items_error)
      if (i < first_index) {
        first_index = i;
        first_error = std::current_exception();
      }
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace gn::app
