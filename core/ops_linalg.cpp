// matmul and linear (fused GEMM + bias); backward is two GEMMs (and a column sum for the bias).

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace gn {
namespace {
// C = op(A) op(B) with overwrite; all row-major.
void gemm_into(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const Tensor& A, const Tensor& B,
               Tensor& C, double beta, const char* op) {
  GN_DISPATCH_FLOAT(A.dtype(), op, [&] {
    dispatch::gemm<scalar_t>(A.device(), ta, tb, M, N, K, scalar_t(1), A.data<scalar_t>(), B.data<scalar_t>(),
                             static_cast<scalar_t>(beta), C.data<scalar_t>());
  });
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_dtype_device(a, b, "matmul");
  check_floating(a, "matmul");
  GN_CHECK(a.dim() == 2 && b.dim() == 2 && a.shape()[1] == b.shape()[0], "matmul: expects (M, K) @ (K, N), got {} @ {}",
           to_string(a.shape()), to_string(b.shape()));
  const std::int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  Tensor out = Tensor::empty({M, N}, a.dtype(), a.device());
  gemm_into(false, false, M, N, K, a, b, out, 0.0, "matmul");
  return record(
      out, "matmul", {a, b},
      [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad(), M, N, K](const Tensor& g) {
        Tensor ga, gb;
        if (na) {  // (M, N) @ (K, N)^T -> (M, K)
          ga = Tensor::empty({M, K}, g.dtype(), g.device());
          gemm_into(false, true, M, K, N, g, b, ga, 0.0, "matmul backward");
        }
        if (nb) {  // (M, K)^T @ (M, N) -> (K, N)
          gb = Tensor::empty({K, N}, g.dtype(), g.device());
          gemm_into(true, false, K, N, M, a, g, gb, 0.0, "matmul backward");
        }
        return std::vector<Tensor>{ga, gb};
      });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_same_dtype_device(x, weight, "linear");
  check_floating(x, "linear");
  GN_CHECK(x.dim() == 2 && weight.dim() == 2 && x.shape()[1] == weight.shape()[1],
           "linear: expects x (B, in) and weight (out, in), got x {} and weight {}", to_string(x.shape()),
           to_string(weight.shape()));
  const std::int64_t B = x.shape()[0], in = x.shape()[1], out_f = weight.shape()[0];
  if (bias.defined()) {
    check_same_dtype_device(x, bias, "linear");
    GN_CHECK(bias.shape() == Shape{out_f}, "linear: bias has shape {}, expected ({},)", to_string(bias.shape()), out_f);
  }
  Tensor y = Tensor::empty({B, out_f}, x.dtype(), x.device());
  double beta = 0.0;
  if (bias.defined()) {  // y starts as the bias in every row; the GEMM then accumulates x W^T
    GN_DISPATCH_FLOAT(x.dtype(), "linear", [&] {
      dispatch::broadcast_axis<scalar_t>(x.device(), 1, B, out_f, bias.data<scalar_t>(), scalar_t(1),
                                         y.data<scalar_t>());
    });
    beta = 1.0;
  }
  gemm_into(false, true, B, out_f, in, x, weight, y, beta, "linear");
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record(y, "linear", std::move(inputs),
                [x = x.detach(), w = weight.detach(), has_bias = bias.defined(), nx = x.requires_grad(),
                 nw = weight.requires_grad(), nb = bias.requires_grad(), B, in, out_f](const Tensor& g) {
                  std::vector<Tensor> grads(has_bias ? 3 : 2);
                  if (nx) {  // (B, out) @ (out, in) -> (B, in)
                    grads[0] = Tensor::empty({B, in}, g.dtype(), g.device());
                    gemm_into(false, false, B, in, out_f, g, w, grads[0], 0.0, "linear backward");
                  }
                  if (nw) {  // (B, out)^T @ (B, in) -> (out, in)
                    grads[1] = Tensor::empty({out_f, in}, g.dtype(), g.device());
                    gemm_into(true, false, out_f, in, B, g, x, grads[1], 0.0, "linear backward");
                  }
                  if (has_bias && nb) grads[2] = sum(g, 0);
                  return grads;
                });
}

}  // namespace gn
