#pragma once
// One check macro per CUDA API family: it reports the expression, file and line, and throws.
#include <cuda_runtime.h>

#include "kernels/error.h"

#define GN_CUDA_CHECK(expr)                                                                                       \
  do {                                                                                                            \
    cudaError_t gn_err_ = (expr);                                                                                 \
    if (gn_err_ != cudaSuccess)                                                                                   \
      GN_FAIL("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(gn_err_), cudaGetErrorString(gn_err_), #expr, \
              __FILE__, __LINE__);                                                                                \
  } while (0)

// After every kernel launch: catches bad launch configurations at the launch site.
#define GN_CUDA_CHECK_LAUNCH() GN_CUDA_CHECK(cudaGetLastError())
