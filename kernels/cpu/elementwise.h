#pragma once
// Elementwise kernels over raw buffers. All overwrite `out` unless named with a trailing underscore.
#include <cstdint>
#include <span>

#include "kernels/op_kinds.h"

namespace gn::cpu {

using ::gn::BinaryOp;

// out = a (op) b with broadcasting. out_shape has ndim <= 8 axes; a_strides/b_strides give, per output
// axis, the element stride of a/b along it (0 where that operand is broadcast). out is contiguous.
template <class T>
void binary(BinaryOp op, const T* a, std::span<const std::int64_t> a_strides, const T* b,
            std::span<const std::int64_t> b_strides, T* out, std::span<const std::int64_t> out_shape);

// a += alpha * b over n elements (accumulates).
template <class T>
void axpy(std::int64_t n, T alpha, const T* b, T* a);
// a *= s over n elements.
template <class T>
void scale(std::int64_t n, T s, T* a);

using ::gn::UnaryOp;

// y = f(x) over n elements; `p` is the exponent for Pow.
template <class T>
void unary(UnaryOp op, std::int64_t n, const T* x, T* y, T p = T(0));
// gx = gy * f'(x), computed from x and/or y = f(x) (whichever is cheaper); overwrites gx.
template <class T>
void unary_backward(UnaryOp op, std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p = T(0));

}  // namespace gn::cpu
