#pragma once
// The differentiable ops. Each is defined in core/ops_<family>.cpp with its backward beside it, and
// dispatches by device to kernels/cpu (and kernels/cuda when built). Errors name the op and the shapes.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace gn {

// ---- elementwise binary, numpy broadcasting (ops_binary.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(b, a); }

// In place, not recorded by autograd (optimizers, gradient accumulation): a += b, a += alpha * b, a *= s.
void add_(Tensor& a, const Tensor& b);
void axpy_(Tensor& a, double alpha, const Tensor& b);
void scale_(Tensor& a, double s);

// ---- elementwise unary (ops_unary.cpp) ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);  // d|x|/dx = sign(x), 0 at 0
Tensor pow(const Tensor& x, double p);
Tensor relu(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
inline Tensor operator-(const Tensor& x) { return neg(x); }

// ---- reductions (ops_reduce.cpp); float accumulation in double, fixed order ----
Tensor sum(const Tensor& x);  // -> shape ()
Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim = false);

// ---- shape (ops_shape.cpp) ----
Tensor reshape(const Tensor& x, const Shape& shape);                        // a view; one axis may be -1
Tensor slice(const Tensor& x, std::int64_t begin, std::int64_t end);        // rows [begin, end) of axis 0; a view
Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1);  // copies
Tensor concat(std::span<const Tensor> xs, std::int64_t axis);
std::vector<Tensor> split(const Tensor& x, std::span<const std::int64_t> sizes, std::int64_t axis);

// ---- linear algebra (ops_linalg.cpp) ----
// a: (M, K), b: (K, N) -> (M, N).
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (B, in), weight: (out, in), bias: (out) or undefined -> x weight^T + bias: (B, out). One GEMM.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- losses (ops_loss.cpp) ----
// Empty inputs, one rule for reductions and losses: sums of nothing are 0; means of nothing (mean,
// mse_loss of an empty tensor) throw, naming the op, since an empty prediction is a shape bug; a loss over
// a mask (cross_entropy's ignore_index) is 0 with gradient 0 when no position counts, since a batch may
// legitimately have none.
// mean((pred - target)^2) over all elements -> shape (). target needs no grad.
Tensor mse_loss(const Tensor& pred, const Tensor& target);
// logits: (N, C) or (N, C, d1, ...), labels: int64 (N) or (N, d1, ...). Mean of -log softmax(logits)[label]
// over the positions whose label != ignore_index (0 if every position is ignored). Labels outside
// [0, C) other than ignore_index are an error.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, std::int64_t ignore_index = -100);
// Masked depth losses and the surface-normal cosine loss (same empty-input rule): core/ops_dense_loss.h.

}  // namespace gn

// Image ops (NCHW), one header per family.
#include "core/ops_conv.h"  // IWYU pragma: export
#include "core/ops_pool.h"  // IWYU pragma: export
// Dense-prediction losses (depth, surface normals) and the resolution rule.
#include "core/ops_dense_loss.h"  // IWYU pragma: export
