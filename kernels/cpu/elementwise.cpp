#include "kernels/cpu/elementwise.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/threads.h"
#include "kernels/error.h"

namespace gn::cpu {
namespace {

// Runs f(begin, end) over [0, n): one call when n is small or there is one thread, else one contiguous
// block per thread (OpenMP's static split, so results never depend on timing).
template <class F>
void for_ranges(std::int64_t n, const F& f) {
  if (n <= kParallelGrain || num_threads() == 1) return f(std::int64_t{0}, n);
#pragma omp parallel
  {
    const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t per = (n + nt - 1) / nt;
    const std::int64_t begin = std::min(n, t * per), end = std::min(n, begin + per);
    if (begin < end) f(begin, end);
  }
}

// The loops themselves take their pointers as arguments: inside a lambda (or an OpenMP-outlined body) the
// captured pointers would be reloaded after every store (it might alias them) and the loop would stay
// scalar, with a branch per element for selects such as ReLU's backward.
template <class T, class Op>
void apply1(std::int64_t begin, std::int64_t end, const T* x, T* y, Op op) {
  for (std::int64_t i = begin; i < end; ++i) y[i] = op(x[i]);
}
template <class T, class Op>
void apply2(std::int64_t begin, std::int64_t end, const T* a, const T* b, T* y, Op op) {
  for (std::int64_t i = begin; i < end; ++i) y[i] = op(a[i], b[i]);
}

// y[i] = op(x[i]) over n elements.
template <class T, class Op>
void map1(std::int64_t n, const T* x, T* y, Op op) {
  for_ranges(n, [=](std::int64_t b, std::int64_t e) { apply1(b, e, x, y, op); });
}
// y[i] = op(a[i], b[i]) over n elements.
template <class T, class Op>
void map2(std::int64_t n, const T* a, const T* b, T* y, Op op) {
  for_ranges(n, [=](std::int64_t s, std::int64_t e) { apply2(s, e, a, b, y, op); });
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
  if (a_contig && b_contig) return map2(n, a, b, out, op);
  if (a_contig && b_scalar) {
    const T s = b[0];
    return map1(n, a, out, [=](T v) { return op(v, s); });
  }
  if (a_contig && b_row) {  // rows of w: a row of a against b, one call per row
    const std::int64_t w = shape[nd - 1], rows = n / w;
    return for_ranges(rows * w, [=](std::int64_t s, std::int64_t e) {
      for (std::int64_t r = s / w; r * w < e; ++r) {
        const std::int64_t lo = std::max(s, r * w), hi = std::min(e, (r + 1) * w);
        apply2(lo - r * w, hi - r * w, a + r * w, b, out + r * w, op);
      }
    });
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
  map2(n, a, b, a, [=](T u, T v) { return u + alpha * v; });
}
template <class T>
void scale(std::int64_t n, T s, T* a) {
  map1(n, a, a, [=](T u) { return u * s; });
}

template <class T>
void unary(UnaryOp op, std::int64_t n, const T* x, T* y, T p) {
  switch (op) {
    case UnaryOp::Neg:
      return map1(n, x, y, [=](T v) { return -v; });
    case UnaryOp::Exp:
      return map1(n, x, y, [=](T v) { return std::exp(v); });
    case UnaryOp::Log:
      return map1(n, x, y, [=](T v) { return std::log(v); });
    case UnaryOp::Sqrt:
      return map1(n, x, y, [=](T v) { return std::sqrt(v); });
    case UnaryOp::Abs:
      return map1(n, x, y, [=](T v) { return std::abs(v); });
    case UnaryOp::Relu:
      return map1(n, x, y, [=](T v) { return v > T(0) ? v : T(0); });
    case UnaryOp::Tanh:
      return map1(n, x, y, [=](T v) { return std::tanh(v); });
    case UnaryOp::Sigmoid:
      return map1(n, x, y, [=](T v) { return T(1) / (T(1) + std::exp(-v)); });
    case UnaryOp::Pow:
      return map1(n, x, y, [=](T v) { return std::pow(v, p); });
  }
}

template <class T>
void unary_backward(UnaryOp op, std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p) {
  switch (op) {
    case UnaryOp::Neg:
      return map1(n, gy, gx, [](T g) { return -g; });
    case UnaryOp::Exp:
      return map2(n, gy, y, gx, [](T g, T v) { return g * v; });
    case UnaryOp::Log:
      return map2(n, gy, x, gx, [](T g, T v) { return g / v; });
    case UnaryOp::Sqrt:
      return map2(n, gy, y, gx, [](T g, T v) { return g * T(0.5) / v; });
    case UnaryOp::Abs:
      return map2(n, gy, x, gx, [](T g, T v) { return v > T(0) ? g : (v < T(0) ? -g : T(0)); });
    case UnaryOp::Relu:
      return map2(n, gy, x, gx, [](T g, T v) { return v > T(0) ? g : T(0); });
    case UnaryOp::Tanh:
      return map2(n, gy, y, gx, [](T g, T v) { return g * (T(1) - v * v); });
    case UnaryOp::Sigmoid:
      return map2(n, gy, y, gx, [](T g, T v) { return g * v * (T(1) - v); });
    case UnaryOp::Pow:
      // p = 0: y = 1 whatever x, so the gradient is 0, also at x = 0 where p * x^(p-1) would be 0 * inf.
      if (p == T(0)) return map1(n, gy, gx, [](T) { return T(0); });
      return map2(n, gy, x, gx, [=](T g, T v) { return g * p * std::pow(v, p - T(1)); });
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
