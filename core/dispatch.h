#pragma once
// The one dispatch point between ops and kernels: each function below runs the CPU kernel
// (kernels/cpu) or the CUDA kernel (kernels/cuda, on the device's stream) for the tensors' device.
// Ops in core/ops_*.cpp call only these, so a backend is added here and nowhere else.
// Scalars such as loss values and upstream gradients are passed as pointers into the tensors' own
// memory (device memory on CUDA), so no op reads a value back to the host.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "kernels/op_kinds.h"

namespace gn {

// Thrown by an op whose CUDA branch is not available in this build: names the op, never falls back.
[[noreturn]] void no_cuda_kernel(const char* op);

// Float dtype required (float32/float64): names the op and the dtype.
void check_floating(const Tensor& t, const char* op);

namespace dispatch {

template <class T>
void binary(Device d, BinaryOp op, const T* a, std::span<const std::int64_t> a_strides, const T* b,
            std::span<const std::int64_t> b_strides, T* out, std::span<const std::int64_t> out_shape);
template <class T>
void axpy(Device d, std::int64_t n, T alpha, const T* b, T* a);  // a += alpha b
template <class T>
void scale(Device d, std::int64_t n, T s, T* a);  // a *= s
template <class T>
void fill(Device d, std::int64_t n, T value, T* a);
template <class T>
void unary(Device d, UnaryOp op, std::int64_t n, const T* x, T* y, T p);
template <class T>
void unary_backward(Device d, UnaryOp op, std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p);

// out[0] = scale * sum(x[0..n)).
template <class T>
void sum_all(Device d, std::int64_t n, const T* x, T scale, T* out);
// (outer, n, inner) -> (outer, inner), times scale.
template <class T>
void sum_axis(Device d, std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale, T* out);
// (outer, inner) -> (outer, n, inner), times scale.
template <class T>
void broadcast_axis(Device d, std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T scale, T* out);

void copy_rows(Device d, std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, std::int64_t src_row,
               void* dst, std::int64_t dst_row);
void strided_copy(Device d, std::size_t elem, const void* in, std::span<const std::int64_t> in_strides, void* out,
                  std::span<const std::int64_t> out_shape);

// dst row r = src row index[r] (index in the same memory as the data); overwrites.
void gather_rows(Device d, std::int64_t rows, std::int64_t width, std::size_t elem, const void* src,
                 const std::int64_t* index, void* dst);

// dst = src converted between float32 and float64 (n elements, both on device d); overwrites.
void cast(Device d, std::int64_t n, DType from, const void* src, DType to, void* dst);

template <class T>
void gemm(Device d, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          const T* B, T beta, T* C);

// out[0] = mean squared error; grad = g[0] * 2 (pred - target) / n.
template <class T>
void mse(Device d, std::int64_t n, const T* pred, const T* target, T* out);
template <class T>
void mse_backward(Device d, std::int64_t n, const T* pred, const T* target, const T* g, T* grad);
// out[0] = mean cross-entropy over counted positions, counted[0] = their number. A label outside
// [0, C) that is not ignore_index throws (on CUDA this reads one flag back: a documented sync point).
template <class T>
void cross_entropy(Device d, std::int64_t N, std::int64_t C, std::int64_t S, const T* logits,
                   const std::int64_t* labels, std::int64_t ignore_index, T* out, std::int64_t* counted);
template <class T>
void cross_entropy_backward(Device d, std::int64_t N, std::int64_t C, std::int64_t S, const T* logits,
                            const std::int64_t* labels, std::int64_t ignore_index, const T* g,
                            const std::int64_t* counted, T* grad);

template <class T>
void sgd_step(Device d, std::int64_t n, T* param, const T* grad, T* momentum_buf, T lr, T momentum, T weight_decay,
              bool first);
template <class T>
void adam_step(Device d, std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps,
               T weight_decay, std::int64_t step);

}  // namespace dispatch
}  // namespace gn
