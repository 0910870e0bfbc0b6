// Row-major GEMM on cuBLAS (column-major): C = alpha * op(A) op(B) + beta * C.
//
// A row-major (R, Cols) matrix read column-major is its transpose, so we ask cuBLAS for
//   C^T (N, M) = op(B)^T (N, K) * op(A)^T (K, M)
// i.e. gemm(opB, opA, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc = N), with the row-major leading
// dimensions lda = trans_a ? M : K and ldb = trans_b ? K : N, and opX = trans_x ? T : N.
// beta = 0 overwrites C without reading it (BLAS convention); beta = 1 accumulates. Scalars are host
// values (CUBLAS_POINTER_MODE_HOST, the handle's default). The default math mode is kept: no TF32.
#include <climits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"

namespace gn::cuda {
namespace {

// Binds the handle to stream s for one call and restores the stream it had (the process stream) after,
// also when the call throws.
class HandleStreamGuard {
 public:
  HandleStreamGuard(cublasHandle_t h, cudaStream_t s) : handle_(h) {
    GN_CUBLAS_CHECK(cublasGetStream(h, &previous_));
    if (previous_ != s) {
      GN_CUBLAS_CHECK(cublasSetStream(h, s));
      changed_ = true;
    }
  }
  ~HandleStreamGuard() {
    if (changed_) cublasSetStream(handle_, previous_);  // no throw in a destructor
  }
  HandleStreamGuard(const HandleStreamGuard&) = delete;
  HandleStreamGuard& operator=(const HandleStreamGuard&) = delete;

 private:
  cublasHandle_t handle_;
  cudaStream_t previous_ = nullptr;
  bool changed_ = false;
};

cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t opb, cublasOperation_t opa, int n, int m, int k,
                         const float* alpha, const float* B, int ldb, const float* A, int lda, const float* beta,
                         float* C, int ldc) {
  return cublasSgemm(h, opb, opa, n, m, k, alpha, B, ldb, A, lda, beta, C, ldc);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t opb, cublasOperation_t opa, int n, int m, int k,
                         const double* alpha, const double* B, int ldb, const double* A, int lda, const double* beta,
                         double* C, int ldc) {
  return cublasDgemm(h, opb, opa, n, m, k, alpha, B, ldb, A, lda, beta, C, ldc);
}

}  // namespace

// op(A): (M, K), stored (M, K) or, if trans_a, (K, M); op(B): (K, N), stored (K, N) or, if trans_b, (N, K);
// C: (M, N) row-major.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, const T* B,
          T beta, T* C, Stream s) {
  GN_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda::gemm: negative size M={} N={} K={}", M, N, K);
  if (M == 0 || N == 0) return;
  if (K == 0) {  // empty product: C = beta * C (beta = 0 overwrites, so a NaN in C does not survive)
    if (beta == T(0))
      fill<T>(M * N, T(0), C, s);
    else if (beta != T(1))
      scale<T>(M * N, beta, C, s);
    return;
  }
  GN_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX,
           "cuda::gemm: sizes M={} N={} K={} exceed cuBLAS's 32-bit int arguments", M, N, K);
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  const int lda = trans_a ? m : k;
  const int ldb = trans_b ? k : n;
  const cublasOperation_t opa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t handle = cublas_handle();
  HandleStreamGuard bind(handle, s);
  GN_CUBLAS_CHECK(gemm_call(handle, opb, opa, n, m, k, &alpha, B, ldb, A, lda, &beta, C, n));
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, const float*,
                          float, float*, Stream);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, const double*,
                           double, double*, Stream);

}  // namespace gn::cuda
