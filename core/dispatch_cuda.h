#pragma once
// For the dispatch layer's .cpp files only: GN_CUDA(statements) is the CUDA branch of a dispatch
// function, compiled only in a CUDA build (`stream` is the device's stream); without CUDA it throws,
// naming the function. The dispatch files are the only place above kernels/ that mention CUDA.
#include "core/dispatch.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/stream.h"
#define GN_CUDA(...)                                       \
  do {                                                     \
    [[maybe_unused]] auto stream = cuda::current_stream(); \
    __VA_ARGS__;                                           \
  } while (0)
#else
#define GN_CUDA(...) no_cuda_kernel(__func__)
#endif
