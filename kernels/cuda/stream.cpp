#include "kernels/cuda/stream.h"

#include <memory>
#include <mutex>
#include <vector>

#include "kernels/cuda/check.h"

namespace gn::cuda {
namespace {

struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
};

DeviceContext& context() {
  // Both leaked on purpose, so they outlive every static destructor: the CUDA caching allocator (core/
  // allocator.cpp), constructed before the first call here, frees its cached blocks at exit through
  // device_free -> current_stream(); a destroyed vector there would be a use-after-free.
  static std::mutex& mu = *new std::mutex;
  static auto& contexts = *new std::vector<std::unique_ptr<DeviceContext>>;  // one per device, never destroyed:
  // destroying streams and handles at exit races with the driver's own teardown.
  int device = 0;
  GN_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard lock(mu);
  if (contexts.size() <= static_cast<std::size_t>(device)) contexts.resize(device + 1);
  auto& ctx = contexts[device];
  if (!ctx) {
    ctx = std::make_unique<DeviceContext>();
    GN_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    GN_CUBLAS_CHECK(cublasCreate(&ctx->blas));
    GN_CUBLAS_CHECK(cublasSetStream(ctx->blas, ctx->stream));
  }
  return *ctx;
}

}  // namespace

Stream current_stream() { return context().stream; }
cublasContext* cublas_handle() { return context().blas; }

}  // namespace gn::cuda
