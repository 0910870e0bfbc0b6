#include "kernels/cuda/runtime.h"

#include "kernels/cuda/check.h"
#include "kernels/cuda/stream.h"

namespace gn::cuda {

std::string unavailable_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not blamed for it
    return std::string("no usable CUDA device (") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) + ")";
  }
  if (count == 0) return "no CUDA device found";
  return {};
}

void* device_malloc(std::size_t bytes) {
  void* p = nullptr;
  // Out of memory throws, and GN_CUDA_CHECK clears the runtime's last error first: a caller that catches it
  // (the caching allocator's user, a test probing the limit) must not see the next kernel launch fail.
  GN_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void device_free(void* p) {
  // Blocks that return to the system may still be read by queued kernels: drain the stream first.
  cudaStreamSynchronize(current_stream());
  cudaFree(p);  // no throw: called from destructors
}

// Every copy is ordered on the one stream the kernels use (the legacy default stream would not wait for
// a non-blocking stream). Copies that touch host memory synchronise: they are the documented sync points.
void memcpy_host_to_device(void* dst, const void* src, std::size_t bytes) {
  GN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, current_stream()));
  GN_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
}
void memcpy_device_to_host(void* dst, const void* src, std::size_t bytes) {
  GN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, current_stream()));
  GN_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
}
void memcpy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  GN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, current_stream()));
}
void synchronize() { GN_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

}  // namespace gn::cuda
