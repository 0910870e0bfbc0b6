#pragma once
// The per-device CUDA context: what every kernel and library call on one device shares, created on the
// first use on that device and kept for the life of the process.
//   - the stream: the ONE stream every kernel and copy of this device runs on (stream.h's current_stream)
//   - the cuBLAS handle, bound to that stream
//   - the cuDNN handle, bound to that stream, created on first use (builds with cuDNN only: cudnn.h)
//   - a workspace: scratch memory for library calls (cuBLAS, cuDNN), grown on demand
//   - plan caches: per-call-site state keyed by a string (a shape), e.g. chosen algorithms
//
// The stream rule. The caching allocator (core/allocator.h) hands a freed block to the next request at
// once, with no event: that is safe only because every piece of work on a device is ordered on this one
// stream, so the block's last reader has run before the next writer starts. The context enforces it by
// construction: it makes exactly one stream per device and there is no way to set another. The one other
// stream in the code base, the NCCL communicator's (core/communicator_nccl.cpp), touches only the tensor of
// a collective in flight, kept alive by its handle until the compute stream has been made to wait for the
// collective's event; any other second stream must do the same.
// Plain C++ header: no CUDA headers, so core/ can include it.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "kernels/cuda/stream.h"

struct cudnnContext;

namespace gn::cuda {

class DeviceContext {
 public:
  explicit DeviceContext(int device);
  ~DeviceContext();  // never runs for the process-wide contexts (see context.cpp)
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int device() const { return device_; }
  Stream stream() const { return stream_; }
  cublasContext* cublas() const { return cublas_; }
  // Throws when the build has no cuDNN (GN_WITH_CUDNN), naming the reason.
  cudnnContext* cudnn();
  // At least `bytes` of device memory, valid until the next workspace() call on this device. Growing it
  // frees the old block after the stream drains (a sync point, taken only when a larger size is first seen).
  void* workspace(std::size_t bytes);
  std::size_t workspace_bytes() const { return workspace_bytes_; }
  // The cached object under `key`, made by `make` on first use. Plans live as long as the context.
  std::shared_ptr<void> cached(const std::string& key, const std::function<std::shared_ptr<void>()>& make);

 private:
  struct Caches;
  int device_;
  Stream stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  cudnnContext* cudnn_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  std::unique_ptr<Caches> caches_;
};

// The current device's context (cudaGetDevice), created on first use.
DeviceContext& current_context();

}  // namespace gn::cuda
