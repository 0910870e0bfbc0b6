#pragma once
// CUDA elementwise kernels: same contracts as kernels/cpu/elementwise.h, plus the stream they run on.
// All launches are asynchronous; outputs are overwritten unless the name says otherwise.
#include <cstdint>
#include <span>

#include "kernels/cuda/stream.h"
#include "kernels/op_kinds.h"

namespace gn::cuda {

// out = a (op) b with broadcasting; out_shape has ndim <= 8; a_strides / b_strides give each operand's
// element stride per output axis (0 on broadcast axes). out is contiguous.
template <class T>
void binary(BinaryOp op, const T* a, std::span<const std::int64_t> a_strides, const T* b,
            std::span<const std::int64_t> b_strides, T* out, std::span<const std::int64_t> out_shape, Stream s);

// a += alpha * b over n elements (accumulates).
template <class T>
void axpy(std::int64_t n, T alpha, const T* b, T* a, Stream s);
// a *= scale over n elements.
template <class T>
void scale(std::int64_t n, T scale, T* a, Stream s);
// a[0..n) = value.
template <class T>
void fill(std::int64_t n, T value, T* a, Stream s);

template <class T>
void unary(UnaryOp op, std::int64_t n, const T* x, T* y, T p, Stream s);
// gx = gy * f'(x), from x and/or y = f(x); overwrites gx.
template <class T>
void unary_backward(UnaryOp op, std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p, Stream s);

}  // namespace gn::cuda
