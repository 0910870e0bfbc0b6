#pragma once
// The CUDA stream every kernel of this process runs on (one per device, created on first use), and the
// cuBLAS handle bound to it: shortcuts into the per-device context (context.h, which states the stream rule). A plain C++ header: CUstream_st is the struct behind cudaStream_t, so core/
// can pass streams around without CUDA headers.
struct CUstream_st;
struct cublasContext;

namespace gn::cuda {

using Stream = CUstream_st*;

// The current device's stream (non-blocking with respect to the legacy default stream).
Stream current_stream();
// The current device's cuBLAS handle, bound to current_stream().
cublasContext* cublas_handle();

}  // namespace gn::cuda
