#include "kernels/cuda/context.h"

#include <map>
#include <mutex>
#include <vector>

#include "kernels/cuda/check.h"
#ifdef GN_WITH_CUDNN
#include "kernels/cuda/cudnn.h"
#endif

namespace gn::cuda {

struct DeviceContext::Caches {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<void>, std::less<>> plans;
};

DeviceContext::DeviceContext(int device) : device_(device), caches_(std::make_unique<Caches>()) {
  GN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  GN_CUBLAS_CHECK(cublasCreate(&cublas_));
  GN_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
}

DeviceContext::~DeviceContext() {
  if (workspace_ != nullptr) cudaFree(workspace_);
#ifdef GN_WITH_CUDNN
  if (cudnn_ != nullptr) cudnnDestroy(cudnn_);
#endif
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

cudnnContext* DeviceContext::cudnn() {
#ifdef GN_WITH_CUDNN
  if (cudnn_ == nullptr) {
    GN_CUDNN_CHECK(cudnnCreate(&cudnn_));
    GN_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  }
  return cudnn_;
#else
  GN_FAIL("cuDNN: this build has no cuDNN (CMake found no cudnn.h and libcudnn; see README, GPU section)");
#endif
}

void* DeviceContext::workspace(std::size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (workspace_ != nullptr) {
    GN_CUDA_CHECK(cudaStreamSynchronize(stream_));  // queued library calls may still use the old block
    GN_CUDA_CHECK(cudaFree(workspace_));
    workspace_ = nullptr;
    workspace_bytes_ = 0;
  }
  GN_CUDA_CHECK(cudaMalloc(&workspace_, bytes));
  workspace_bytes_ = bytes;
  return workspace_;
}

std::shared_ptr<void> DeviceContext::cached(const std::string& key,
                                            const std::function<std::shared_ptr<void>()>& make) {
  std::lock_guard lock(caches_->mu);
  auto it = caches_->plans.find(key);
  if (it == caches_->plans.end()) it = caches_->plans.emplace(key, make()).first;
  return it->second;
}

DeviceContext& current_context() {
  // Leaked on purpose, so they outlive every static destructor: the CUDA caching allocator (core/
  // allocator.cpp), constructed before the first call here, frees its cached blocks at exit through
  // device_free -> current_stream(); and destroying streams and handles at exit races with the driver's
  // own teardown.
  static std::mutex& mu = *new std::mutex;
  static auto& contexts = *new std::vector<std::unique_ptr<DeviceContext>>;  // one per device
  int device = 0;
  GN_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard lock(mu);
  if (contexts.size() <= static_cast<std::size_t>(device)) contexts.resize(static_cast<std::size_t>(device) + 1);
  auto& ctx = contexts[static_cast<std::size_t>(device)];
  if (!ctx) ctx = std::make_unique<DeviceContext>(device);
  return *ctx;
}

Stream current_stream() { return current_context().stream(); }
cublasContext* cublas_handle() { return current_context().cublas(); }

}  // namespace gn::cuda
