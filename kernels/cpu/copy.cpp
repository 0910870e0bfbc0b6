#include "kernels/cpu/copy.h"

#include <cstring>

#include "kernels/error.h"

namespace gn::cpu {

void copy_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, std::int64_t src_row,
               void* dst, std::int64_t dst_row) {
  const auto* s = static_cast<const char*>(src);
  auto* d = static_cast<char*>(dst);
  for (std::int64_t r = 0; r < rows; ++r) std::memcpy(d + r * dst_row * elem, s + r * src_row * elem, width * elem);
}

void strided_copy(std::size_t elem, const void* in, std::span<const std::int64_t> in_strides, void* out,
                  std::span<const std::int64_t> shape) {
  const int nd = static_cast<int>(shape.size());
  GN_CHECK(nd <= 8, "strided_copy: {} axes exceed the kernel's limit of 8", nd);
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  if (n == 0) return;
  const auto* src = static_cast<const char*>(in);
  auto* dst = static_cast<char*>(out);
  std::int64_t idx[8] = {}, off = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * elem, src + off * elem, elem);
    for (int k = nd - 1; k >= 0; --k) {
      if (++idx[k] < shape[k]) {
        off += in_strides[k];
        break;
      }
      off -= in_strides[k] * (shape[k] - 1);
      idx[k] = 0;
    }
  }
}

}  // namespace gn::cpu
