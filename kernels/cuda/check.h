#pragma once
// One check macro per CUDA API family: each reports the failing expression, file and line, and throws
// gn::Error (library code never exits).
//
// A failed runtime call also becomes the runtime's "last error", which stays set until cudaGetLastError()
// reads it: GN_CUDA_CHECK reads it before throwing, or the next GN_CUDA_CHECK_LAUNCH() in the process
// would report it against an unrelated kernel (e.g. after an out-of-memory cudaMalloc the caller caught).
// Sticky errors (a kernel fault) are not cleared by this; every later call reports them anyway.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/error.h"

#define GN_CUDA_CHECK(expr)                                                                                       \
  do {                                                                                                            \
    cudaError_t gn_err_ = (expr);                                                                                 \
    if (gn_err_ != cudaSuccess) {                                                                                 \
      (void)cudaGetLastError(); /* clear it: see above */                                                         \
      GN_FAIL("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(gn_err_), cudaGetErrorString(gn_err_), #expr, \
              __FILE__, __LINE__);                                                                                \
    }                                                                                                             \
  } while (0)

// After every kernel launch: catches bad launch configurations at the launch site.
#define GN_CUDA_CHECK_LAUNCH() GN_CUDA_CHECK(cudaGetLastError())

#define GN_CUBLAS_CHECK(expr)                                                                                    \
  do {                                                                                                           \
    cublasStatus_t gn_st_ = (expr);                                                                              \
    if (gn_st_ != CUBLAS_STATUS_SUCCESS)                                                                         \
      GN_FAIL("cuBLAS error {} ({}) in {} at {}:{}", cublasGetStatusName(gn_st_), cublasGetStatusString(gn_st_), \
              #expr, __FILE__, __LINE__);                                                                        \
  } while (0)
