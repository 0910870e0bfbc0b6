#pragma once
// CUDA data movement, same contracts as kernels/cpu/copy.h (element size in bytes, any dtype).
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

// rows x width elements: dst[r * dst_row + j] = src[r * src_row + j] (a 2-D async copy); overwrites.
void copy_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, std::int64_t src_row,
               void* dst, std::int64_t dst_row, Stream s);

// out (contiguous, out_shape, ndim <= 8) = in read with in_strides (elements) per output axis.
void strided_copy(std::size_t elem, const void* in, std::span<const std::int64_t> in_strides, void* out,
                  std::span<const std::int64_t> out_shape, Stream s);

}  // namespace gn::cuda
