#include "kernels/cuda/check.h"
#include "kernels/cuda/gather.h"
#include "kernels/cuda/launch.cuh"

namespace gn::cuda {
namespace {

// One grid-stride loop over all rows * width elements; Word is the element type moved (4 or 8 bytes).
template <class Word>
__global__ void gather_rows_kernel(std::int64_t rows, std::int64_t width, const Word* src, const std::int64_t* index,
                                   Word* dst) {
  const std::int64_t n = rows * width;
  for (std::int64_t i = detail::thread_index(); i < n; i += detail::grid_stride()) {
    const std::int64_t r = i / width, j = i - r * width;
    dst[i] = src[index[r] * width + j];
  }
}

}  // namespace

void gather_rows(std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, const std::int64_t* index,
                 void* dst, Stream s) {
  const std::int64_t n = rows * width;
  if (n == 0) return;
  if (elem == 4)
    gather_rows_kernel<<<detail::grid_for(n), detail::kThreads, 0, s>>>(
        rows, width, static_cast<const std::uint32_t*>(src), index, static_cast<std::uint32_t*>(dst));
  else if (elem == 8)
    gather_rows_kernel<<<detail::grid_for(n), detail::kThreads, 0, s>>>(
        rows, width, static_cast<const std::uint64_t*>(src), index, static_cast<std::uint64_t*>(dst));
  else
    GN_FAIL("gather_rows: element size {} is not 4 or 8 bytes", elem);
  GN_CUDA_CHECK_LAUNCH();
}

}  // namespace gn::cuda

namespace gn::cuda {
namespace {
template <class From, class To>
__global__ void cast_kernel(std::int64_t n, const From* src, To* dst) {
  for (std::int64_t i = detail::thread_index(); i < n; i += detail::grid_stride()) dst[i] = static_cast<To>(src[i]);
}
}  // namespace

template <class From, class To>
void cast(std::int64_t n, const From* src, To* dst, Stream s) {
  if (n == 0) return;
  cast_kernel<<<detail::grid_for(n), detail::kThreads, 0, s>>>(n, src, dst);
  GN_CUDA_CHECK_LAUNCH();
}

template void cast<float, double>(std::int64_t, const float*, double*, Stream);
template void cast<double, float>(std::int64_t, const double*, float*, Stream);
template void cast<float, float>(std::int64_t, const float*, float*, Stream);
template void cast<double, double>(std::int64_t, const double*, double*, Stream);

}  // namespace gn::cuda
