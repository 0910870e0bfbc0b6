#pragma once
// The one place an op learns which backend runs it. Ops call backend_of() and switch on the answer;
// the CUDA backend (kernels/cuda) fills in the CUDA branches.
#include "core/tensor.h"

namespace gn {

enum class Backend { CPU, CUDA };

// The backend for an op's tensors (all already checked to share one device).
inline Backend backend_of(const Tensor& t) { return t.device().is_cpu() ? Backend::CPU : Backend::CUDA; }

// Thrown by an op whose CUDA branch is not written yet: names the op, never silently falls back.
[[noreturn]] void no_cuda_kernel(const char* op);

// Float dtype required (float32/float64): names the op and the dtype.
void check_floating(const Tensor& t, const char* op);

}  // namespace gn
