#pragma once
// Row-major GEMM on cuBLAS: C = alpha * op(A) op(B) + beta * C, same contract as kernels/cpu/gemm.h.
#include <cstdint>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, const T* B,
          T beta, T* C, Stream s);

}  // namespace gn::cuda
