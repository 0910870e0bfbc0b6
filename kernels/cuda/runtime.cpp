#include "kernels/cuda/runtime.h"

#include "kernels/cuda/check.h"

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
  GN_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}
void device_free(void* p) { cudaFree(p); }  // no throw: called from destructors
void memcpy_host_to_device(void* dst, const void* src, std::size_t bytes) {
  GN_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void memcpy_device_to_host(void* dst, const void* src, std::size_t bytes) {
  GN_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void memcpy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  GN_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void synchronize() { GN_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace gn::cuda
