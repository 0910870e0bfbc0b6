#pragma once
// CUDA sum reductions. Deterministic: fixed-size blocks write partial sums to their own slots, then one
// block adds the partials in a fixed order (no float atomics), so a run gives the same bits twice.
// Accumulation is in float for float32 and double for float64. Results stay in device memory.
#include <cstdint>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

// out[0] = scale * sum of x[0..n); out is a device pointer; overwrites.
template <class T>
void sum_all(std::int64_t n, const T* x, T scale, T* out, Stream s);

// x viewed as (outer, n, inner) -> out (outer, inner) = scale * sum over the middle axis; overwrites.
template <class T>
void sum_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale, T* out, Stream s);

// out (outer, n, inner) = scale * x (outer, inner) broadcast along the middle axis; overwrites.
// x may be a device scalar (outer = inner = 1), e.g. the gradient of a sum.
template <class T>
void broadcast_axis(std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale, T* out, Stream s);

}  // namespace gn::cuda
