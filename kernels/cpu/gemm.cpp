#include "kernels/cpu/gemm.h"

#include <Eigen/Core>

namespace gn::cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, const T* B,
          T beta, T* C) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<Mat> c(C, M, N);
  if (K == 0) {  // empty product: Eigen would still read A and B
    if (beta == T(0))
      c.setZero();
    else
      c *= beta;
    return;
  }
  Eigen::Map<const Mat> a(A, trans_a ? K : M, trans_a ? M : K);
  Eigen::Map<const Mat> b(B, trans_b ? N : K, trans_b ? K : N);
  auto run = [&](const auto& op_a, const auto& op_b) {
    if (beta == T(0))
      c.noalias() = alpha * (op_a * op_b);
    else {
      if (beta != T(1)) c *= beta;
      c.noalias() += alpha * (op_a * op_b);
    }
  };
  if (!trans_a && !trans_b)
    run(a, b);
  else if (!trans_a && trans_b)
    run(a, b.transpose());
  else if (trans_a && !trans_b)
    run(a.transpose(), b);
  else
    run(a.transpose(), b.transpose());
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, const float*,
                          float, float*);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, const double*,
                           double, double*);

}  // namespace gn::cpu
