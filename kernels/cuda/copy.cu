// CUDA data movement: copy_rows (a 2-D async copy, or a kernel where cudaMemcpy2DAsync cannot express it)
// and strided_copy (gather a strided view into a contiguous buffer). Element size in bytes: the kernels
// move 1-, 2-, 4- or 8-byte words, so one kernel serves every dtype. Both overwrite only the destination
// elements they name.
#include <climits>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/launch.cuh"

namespace gn::cuda {
namespace {

using detail::grid_for;
using detail::grid_stride;
using detail::kThreads;
using detail::thread_index;

// ---- copy_rows ------------------------------------------------------------------------------------

// rows x width words: dst[r * dst_row + j] = src[r * src_row + j]. Any row strides (0 repeats a row).
template <class W>
__global__ void copy_rows_kernel(std::int64_t rows, std::int64_t width, const W* src, std::int64_t src_row, W* dst,
                                 std::int64_t dst_row) {
  const std::int64_t total = rows * width;
  for (std::int64_t i = thread_index(); i < total; i += grid_stride()) {
    const std::int64_t r = i / width, j = i - r * width;
    dst[r * dst_row + j] = src[r * src_row + j];
  }
}

template <class W>
void launch_copy_rows(std::int64_t rows, std::int64_t width, const void* src, std::int64_t src_row, void* dst,
                      std::int64_t dst_row, Stream s) {
  copy_rows_kernel<W><<<grid_for(rows * width), kThreads, 0, s>>>(rows, width, static_cast<const W*>(src), src_row,
                                                                  static_cast<W*>(dst), dst_row);
  GN_CUDA_CHECK_LAUNCH();
}

// ---- strided_copy ---------------------------------------------------------------------------------

// The output's shape and the input's element stride per output axis, passed by value.
struct StridedGeometry {
  int nd = 0;
  std::int64_t shape[8] = {};
  std::int64_t stride[8] = {};
};

// out[i] (contiguous, row-major over g.shape) = in[sum_k idx_k * g.stride[k]].
template <class W>
__global__ void strided_copy_kernel(std::int64_t n, const W* in, W* out, StridedGeometry g) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) {
    std::int64_t rest = i, off = 0;
    for (int k = g.nd - 1; k >= 0; --k) {
      const std::int64_t idx = rest % g.shape[k];
      rest /= g.shape[k];
      off += idx * g.stride[k];
    }
    out[i] = in[off];
  }
}

template <class W>
void launch_strided_copy(std::int64_t n, const void* in, void* out, const StridedGeometry& g, Stream s) {
  strided_copy_kernel<W><<<grid_for(n), kThreads, 0, s>>>(n, static_cast<const W*>(in), static_cast<W*>(out), g);
  GN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void copy_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, std::int64_t src_row,
               void* dst, std::int64_t dst_row, Stream s) {
  if (rows <= 0 || width <= 0) return;
  const auto e = static_cast<std::int64_t>(elem);
  // One block of memory on both sides, or a single row: one linear copy.
  if (rows == 1 || (src_row == width && dst_row == width)) {
    GN_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(rows * width * e), cudaMemcpyDeviceToDevice, s));
    return;
  }
  // Rows at pitches >= the row width: a 2-D copy (pitches in bytes; the runtime caps them below 2^31).
  if (src_row >= width && dst_row >= width && src_row * e <= INT_MAX && dst_row * e <= INT_MAX) {
    GN_CUDA_CHECK(cudaMemcpy2DAsync(dst, static_cast<std::size_t>(dst_row * e), src,
                                    static_cast<std::size_t>(src_row * e), static_cast<std::size_t>(width * e),
                                    static_cast<std::size_t>(rows), cudaMemcpyDeviceToDevice, s));
    return;
  }
  // Anything else (src_row < width, e.g. 0 to repeat one row; huge pitches): the kernel.
  switch (elem) {
    case 1:
      return launch_copy_rows<std::uint8_t>(rows, width, src, src_row, dst, dst_row, s);
    case 2:
      return launch_copy_rows<std::uint16_t>(rows, width, src, src_row, dst, dst_row, s);
    case 4:
      return launch_copy_rows<std::uint32_t>(rows, width, src, src_row, dst, dst_row, s);
    case 8:
      return launch_copy_rows<std::uint64_t>(rows, width, src, src_row, dst, dst_row, s);
    default:
      GN_FAIL("cuda::copy_rows: element size {} bytes is not supported (1, 2, 4 or 8)", elem);
  }
}

void strided_copy(std::size_t elem, const void* in, std::span<const std::int64_t> in_strides, void* out,
                  std::span<const std::int64_t> out_shape, Stream s) {
  const int nd = static_cast<int>(out_shape.size());
  GN_CHECK(nd <= 8, "cuda::strided_copy: {} axes exceed the kernel's limit of 8", nd);
  GN_CHECK(in_strides.size() == out_shape.size(), "cuda::strided_copy: {} output axes but {} input strides", nd,
           in_strides.size());
  GN_CHECK(elem == 1 || elem == 2 || elem == 4 || elem == 8,
           "cuda::strided_copy: element size {} bytes is not supported (1, 2, 4 or 8)", elem);
  std::int64_t n = 1;
  for (auto d : out_shape) n *= d;
  if (n == 0) return;

  StridedGeometry g;
  g.nd = nd;
  bool contiguous = true;  // the input is already laid out like the output
  std::int64_t stride = 1;
  for (int k = nd - 1; k >= 0; --k) {
    g.shape[k] = out_shape[k];
    g.stride[k] = in_strides[k];
    if (out_shape[k] != 1) contiguous = contiguous && in_strides[k] == stride;
    stride *= out_shape[k];
  }
  if (contiguous) {
    GN_CUDA_CHECK(cudaMemcpyAsync(out, in, static_cast<std::size_t>(n) * elem, cudaMemcpyDeviceToDevice, s));
    return;
  }
  switch (elem) {
    case 1:
      return launch_strided_copy<std::uint8_t>(n, in, out, g, s);
    case 2:
      return launch_strided_copy<std::uint16_t>(n, in, out, g, s);
    case 4:
      return launch_strided_copy<std::uint32_t>(n, in, out, g, s);
    case 8:
      return launch_strided_copy<std::uint64_t>(n, in, out, g, s);
  }
}

}  // namespace gn::cuda
