#include "kernels/cpu/elementwise.h"

#include <cmath>

#include "kernels/cpu/threads.h"
#include "kernels/error.h"

namespace gn::cpu {
namespace {

template <class T, class F>
void map_n(std::int64_t n, F f) {
  // Small n: a plain loop that inlines into the caller and vectorises. (Inside an OpenMP-outlined body
  // the captured pointers are reloaded every iteration, since a store might alias them: scalar code.)
  if (n <= kParallelGrain) {
    for (std::int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) f(i);
}

template <class T, class Op>
void binary_typed(Op op, const T* a, std::span<const std::int64_t> as, const T* b, std::span<const std::int64_t> bs,
                  T* out, std::span<const std::int64_t> shape) {
  const int nd = static_cast<int>(shape.size());
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  if (n == 0) return;
  // Fast paths: both contiguous over the whole output; b a scalar; a contiguous and b a row over the last axis.
  bool a_contig = true, b_contig = true, b_scalar = true, b_row = nd >= 1;
  std::int64_t stride = 1;
  for (int k = nd - 1; k >= 0; stride *= shape[k], --k) {
    if (shape[k] == 1) continue;  // any stride is fine along a size-1 axis
    a_contig = a_contig && as[k] == stride;
    b_contig = b_contig && bs[k] == stride;
    b_scalar = b_scalar && bs[k] == 0;
    b_row = b_row && (k == nd - 1 ? bs[k] == 1 : bs[k] == 0);
  }
  if (a_contig && b_contig) return map_n<T>(n, [&](std::int64_t i) { out[i] = op(a[i], b[i]); });
  if (a_contig && b_scalar) {
    const T s = b[0];
    return map_n<T>(n, [&](std::int64_t i) { out[i] = op(a[i], s); });
  }
  if (a_contig && b_row) {
    const std::int64_t w = shape[nd - 1];
    return map_n<T>(n, [&](std::int64_t i) { out[i] = op(a[i], b[i % w]); });
  }
  // General path: walk the output with an n-d counter, carrying each operand's offset.
  GN_CHECK(nd <= 8, "binary: {} axes exceed the kernel's limit of 8", nd);
  std::int64_t idx[8] = {}, ao = 0, bo = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = op(a[ao], b[bo]);
    for (int k = nd - 1; k >= 0; --k) {
      if (++idx[k] < shape[k]) {
        ao += as[k];
        bo += bs[k];
        break;
      }
      ao -= as[k] * (shape[k] - 1);
      bo -= bs[k] * (shape[k] - 1);
      idx[k] = 0;
    }
  }
}

}  // namespace

template <class T>
void binary(BinaryOp op, const T* a, std::span<const std::int64_t> as, const T* b, std::span<const std::int64_t> bs,
            T* out, std::span<const std::int64_t> shape) {
  switch (op) {
    case BinaryOp::Add:
      return binary_typed(std::plus<T>(), a, as, b, bs, out, shape);
    case BinaryOp::Sub:
      return binary_typed(std::minus<T>(), a, as, b, bs, out, shape);
    case BinaryOp::Mul:
      return binary_typed(std::multiplies<T>(), a, as, b, bs, out, shape);
    case BinaryOp::Div:
      return binary_typed(std::divides<T>(), a, as, b, bs, out, shape);
  }
}

template <class T>
void axpy(std::int64_t n, T alpha, const T* b, T* a) {
  map_n<T>(n, [&](std::int64_t i) { a[i] += alpha * b[i]; });
}
template <class T>
void scale(std::int64_t n, T s, T* a) {
  map_n<T>(n, [&](std::int64_t i) { a[i] *= s; });
}

template <class T>
void unary(UnaryOp op, std::int64_t n, const T* x, T* y, T p) {
  switch (op) {
    case UnaryOp::Neg:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = -x[i]; });
    case UnaryOp::Exp:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = std::exp(x[i]); });
    case UnaryOp::Log:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = std::log(x[i]); });
    case UnaryOp::Sqrt:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = std::sqrt(x[i]); });
    case UnaryOp::Abs:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = std::abs(x[i]); });
    case UnaryOp::Relu:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = x[i] > T(0) ? x[i] : T(0); });
    case UnaryOp::Tanh:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = std::tanh(x[i]); });
    case UnaryOp::Sigmoid:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = T(1) / (T(1) + std::exp(-x[i])); });
    case UnaryOp::Pow:
      return map_n<T>(n, [&](std::int64_t i) { y[i] = std::pow(x[i], p); });
  }
}

template <class T>
void unary_backward(UnaryOp op, std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p) {
  switch (op) {
    case UnaryOp::Neg:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = -gy[i]; });
    case UnaryOp::Exp:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = gy[i] * y[i]; });
    case UnaryOp::Log:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = gy[i] / x[i]; });
    case UnaryOp::Sqrt:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = gy[i] * T(0.5) / y[i]; });
    case UnaryOp::Abs:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = x[i] > T(0) ? gy[i] : (x[i] < T(0) ? -gy[i] : T(0)); });
    case UnaryOp::Relu:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = x[i] > T(0) ? gy[i] : T(0); });
    case UnaryOp::Tanh:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = gy[i] * (T(1) - y[i] * y[i]); });
    case UnaryOp::Sigmoid:
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = gy[i] * y[i] * (T(1) - y[i]); });
    case UnaryOp::Pow:
      // p = 0: y = 1 whatever x, so the gradient is 0, also at x = 0 where p * x^(p-1) would be 0 * inf.
      if (p == T(0)) return map_n<T>(n, [&](std::int64_t i) { gx[i] = T(0); });
      return map_n<T>(n, [&](std::int64_t i) { gx[i] = gy[i] * p * std::pow(x[i], p - T(1)); });
  }
}

#define GN_INSTANTIATE(T)                                                                                             \
  template void binary<T>(BinaryOp, const T*, std::span<const std::int64_t>, const T*, std::span<const std::int64_t>, \
                          T*, std::span<const std::int64_t>);                                                         \
  template void axpy<T>(std::int64_t, T, const T*, T*);                                                               \
  template void scale<T>(std::int64_t, T, T*);                                                                        \
  template void unary<T>(UnaryOp, std::int64_t, const T*, T*, T);                                                     \
  template void unary_backward<T>(UnaryOp, std::int64_t, const T*, const T*, const T*, T*, T);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
