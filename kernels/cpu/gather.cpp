#include "kernels/cpu/gather.h"

#include <cstring>

namespace gn::cpu {

void gather_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src,
                 const std::int64_t* index, void* dst) {
  const std::size_t row_bytes = static_cast<std::size_t>(width) * elem;
  for (std::int64_t r = 0; r < rows; ++r)
    std::memcpy(static_cast<char*>(dst) + r * row_bytes, static_cast<const char*>(src) + index[r] * row_bytes,
                row_bytes);
}

}  // namespace gn::cpu
