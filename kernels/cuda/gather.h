#pragma once
// CUDA row gather, same contract as kernels/cpu/gather.h; `index` is in device memory.
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

void gather_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, const std::int64_t* index,
                 void* dst, Stream s);

}  // namespace gn::cuda

namespace gn::cuda {

// dst[i] = (To) src[i] for float <-> double; overwrites.
template <class From, class To>
void cast(std::int64_t n, const From* src, To* dst, Stream s);

}  // namespace gn::cuda
