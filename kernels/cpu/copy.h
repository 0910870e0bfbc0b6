#pragma once
// Data movement kernels (transpose, concat, split). Element size in bytes, so one kernel serves all dtypes.
#include <cstddef>
#include <cstdint>
#include <span>

namespace gn::cpu {

// rows x width elements: dst[r * dst_row + j] = src[r * src_row + j]; overwrites.
void copy_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, std::int64_t src_row,
               void* dst, std::int64_t dst_row);

// out[i0, .., ik] = in[offset from in_strides]: out is contiguous of out_shape (ndim <= 8), in_strides gives
// the input's element stride for each output axis (a permuted view). Overwrites out.
void strided_copy(std::size_t elem, const void* in, std::span<const std::int64_t> in_strides, void* out,
                  std::span<const std::int64_t> out_shape);

}  // namespace gn::cpu
