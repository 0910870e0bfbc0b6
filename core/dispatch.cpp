#include "core/dispatch.h"

namespace gn {

void no_cuda_kernel(const char* op) { GN_FAIL("{}: no CUDA kernel for this op in this build", op); }

void check_floating(const Tensor& t, const char* op) {
  check_defined(t, op, "input");
  GN_CHECK(is_floating(t.dtype()), "{}: expects a float32 or float64 tensor, got {} of shape {}", op,
           dtype_name(t.dtype()), to_string(t.shape()));
}

}  // namespace gn
