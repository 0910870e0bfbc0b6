#pragma once
#include <cstddef>
#include <cstdint>

namespace gn::cpu {

// dst row r = src row index[r], rows of `width` elements of `elem` bytes; overwrites dst.
// (Shuffling a dataset once per epoch, so each batch is then a contiguous slice.)
void gather_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, const std::int64_t* index,
                 void* dst);

}  // namespace gn::cpu

namespace gn::cpu {

// dst[i] = (To) src[i] for float <-> double conversions; overwrites.
template <class From, class To>
void cast(std::int64_t n, const From* src, To* dst);

}  // namespace gn::cpu
