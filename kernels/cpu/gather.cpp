#include "kernels/cpu/gather.h"

#include <cstring>

namespace gn::cpu {

void gather_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, const std::int64_t* index,
                 void* dst) {
  const std::size_t row_bytes = static_cast<std::size_t>(width) * elem;
  for (std::int64_t r = 0; r < rows; ++r)
    std::memcpy(static_cast<char*>(dst) + r * row_bytes, static_cast<const char*>(src) + index[r] * row_bytes,
                row_bytes);
}

}  // namespace gn::cpu

namespace gn::cpu {

template <class From, class To>
void cast(std::int64_t n, const From* src, To* dst) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(src[i]);
}

template void cast<float, double>(std::int64_t, const float*, double*);
template void cast<double, float>(std::int64_t, const double*, float*);
template void cast<float, float>(std::int64_t, const float*, float*);
template void cast<double, double>(std::int64_t, const double*, double*);

}  // namespace gn::cpu
