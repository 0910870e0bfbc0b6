#pragma once
// cuDNN behind one header (builds with GN_WITH_CUDNN only): the check macro that names the failing call,
// file and line. The handle lives in the per-device context (context.h: DeviceContext::cudnn()); the
// convolution kernels will live beside this file.
#include <cudnn.h>

#include "kernels/error.h"

#define GN_CUDNN_CHECK(expr)                                                                            \
  do {                                                                                                  \
    cudnnStatus_t gn_st_ = (expr);                                                                      \
    if (gn_st_ != CUDNN_STATUS_SUCCESS)                                                                 \
      GN_FAIL("cuDNN error {} in {} at {}:{}", cudnnGetErrorString(gn_st_), #expr, __FILE__, __LINE__); \
  } while (0)
