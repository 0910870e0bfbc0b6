#pragma once
// Sum reductions. Accumulation is in double for every dtype and in a fixed order, so a result is
// bit-identical across runs and thread counts.
#include <cstdint>

namespace gn::cpu {

// Sum of n elements. Blocks of kReduceBlock are summed in parallel, then the block sums in order.
inline constexpr std::int64_t kReduceBlock = 4096;
template <class T>
double sum_all(std::int64_t n, const T* x);

// x viewed as (outer, n, inner) -> out (outer, inner) = sum over the middle axis; overwrites out.
template <class T>
void sum_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T* out);

// out (outer, n, inner) = x (outer, inner) broadcast along the middle axis, times s; overwrites out.
template <class T>
void broadcast_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T s, T* out);

}  // namespace gn::cpu
