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
  static std::mutex mu;
  static std::vector<std::unique_ptr<DeviceContext>> contexts;  // one per device, never destroyed:
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
