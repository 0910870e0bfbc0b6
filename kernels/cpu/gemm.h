#pragma once
#include <cstdint>

namespace gn::cpu {

// Row-major C = alpha * op(A) op(B) + beta * C (beta = 0 overwrites, 1 accumulates).
// op(A): (M, K), stored (M, K) or, if trans_a, (K, M); op(B): (K, N), stored (K, N) or, if trans_b, (N, K).
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, const T* B,
          T beta, T* C);

}  // namespace gn::cpu
