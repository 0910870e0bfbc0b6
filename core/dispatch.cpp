#include "core/dispatch.h"

#include <algorithm>

#include "kernels/cpu/copy.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gather.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/reduce.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/copy.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gather.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/runtime.h"
#endif
#include "core/dispatch_cuda.h"

namespace gn {

void no_cuda_kernel(const char* op) { GN_FAIL("{}: this build has no CUDA backend", op); }

void check_floating(const Tensor& t, const char* op) {
  check_defined(t, op, "input");
  GN_CHECK(is_floating(t.dtype()), "{}: expects a float32 or float64 tensor, got {} of shape {}", op,
           dtype_name(t.dtype()), to_string(t.shape()));
}

namespace dispatch {

template <class T>
void binary(Device d, BinaryOp op, const T* a, std::span<const std::int64_t> as, const T* b,
            std::span<const std::int64_t> bs, T* out, std::span<const std::int64_t> shape) {
  if (d.is_cpu()) return cpu::binary<T>(op, a, as, b, bs, out, shape);
  GN_CUDA(cuda::binary<T>(op, a, as, b, bs, out, shape, stream));
}
template <class T>
void axpy(Device d, std::int64_t n, T alpha, const T* b, T* a) {
  if (d.is_cpu()) return cpu::axpy<T>(n, alpha, b, a);
  GN_CUDA(cuda::axpy<T>(n, alpha, b, a, stream));
}
template <class T>
void scale(Device d, std::int64_t n, T s, T* a) {
  if (d.is_cpu()) return cpu::scale<T>(n, s, a);
  GN_CUDA(cuda::scale<T>(n, s, a, stream));
}
template <class T>
void fill(Device d, std::int64_t n, T value, T* a) {
  if (d.is_cpu()) return static_cast<void>(std::fill_n(a, n, value));
  GN_CUDA(cuda::fill<T>(n, value, a, stream));
}
template <class T>
void unary(Device d, UnaryOp op, std::int64_t n, const T* x, T* y, T p) {
  if (d.is_cpu()) return cpu::unary<T>(op, n, x, y, p);
  GN_CUDA(cuda::unary<T>(op, n, x, y, p, stream));
}
template <class T>
void unary_backward(Device d, UnaryOp op, std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p) {
  if (d.is_cpu()) return cpu::unary_backward<T>(op, n, x, y, gy, gx, p);
  GN_CUDA(cuda::unary_backward<T>(op, n, x, y, gy, gx, p, stream));
}

template <class T>
void sum_all(Device d, std::int64_t n, const T* x, T s, T* out) {
  if (d.is_cpu()) {
    out[0] = static_cast<T>(static_cast<double>(s) * cpu::sum_all<T>(n, x));
    return;
  }
  GN_CUDA(cuda::sum_all<T>(n, x, s, out, stream));
}
template <class T>
void sum_axis(Device d, std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T s, T* out) {
  if (d.is_cpu()) {
    cpu::sum_axis<T>(outer, n, inner, x, out);
    if (s != T(1)) cpu::scale<T>(outer * inner, s, out);
    return;
  }
  GN_CUDA(cuda::sum_axis<T>(outer, n, inner, x, s, out, stream));
}
template <class T>
void broadcast_axis(Device d, std::int64_t outer, std::int64_t n, std::int64_t inner, const T* x, T s, T* out) {
  if (d.is_cpu()) return cpu::broadcast_axis<T>(outer, n, inner, x, s, out);
  GN_CUDA(cuda::broadcast_axis<T>(outer, n, inner, x, s, out, stream));
}

void copy_rows(Device d, std::int64_t rows, std::int64_t width, std::size_t elem, const void* src, std::int64_t src_row,
               void* dst, std::int64_t dst_row) {
  if (d.is_cpu()) return cpu::copy_rows(rows, width, elem, src, src_row, dst, dst_row);
  GN_CUDA(cuda::copy_rows(rows, width, elem, src, src_row, dst, dst_row, stream));
}
void strided_copy(Device d, std::size_t elem, const void* in, std::span<const std::int64_t> in_strides, void* out,
                  std::span<const std::int64_t> out_shape) {
  if (d.is_cpu()) return cpu::strided_copy(elem, in, in_strides, out, out_shape);
  GN_CUDA(cuda::strided_copy(elem, in, in_strides, out, out_shape, stream));
}

void gather_rows(Device d, std::int64_t rows, std::int64_t width, std::size_t elem, const void* src,
                 const std::int64_t* index, void* dst) {
  if (d.is_cpu()) return cpu::gather_rows(rows, width, elem, src, index, dst);
  GN_CUDA(cuda::gather_rows(rows, width, elem, src, index, dst, stream));
}

void cast(Device d, std::int64_t n, DType from, const void* src, DType to, void* dst) {
  GN_CHECK(is_floating(from) && is_floating(to), "cast: {} -> {} is not a float conversion", dtype_name(from),
           dtype_name(to));
  GN_DISPATCH_FLOAT(from, "cast", [&] {
    using From = scalar_t;
    GN_DISPATCH_FLOAT(to, "cast", [&] {
      if (d.is_cpu()) return cpu::cast<From, scalar_t>(n, static_cast<const From*>(src), static_cast<scalar_t*>(dst));
      GN_CUDA(cuda::cast<From, scalar_t>(n, static_cast<const From*>(src), static_cast<scalar_t*>(dst), stream));
    });
  });
}

template <class T>
void gemm(Device d, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, const T* B,
          T beta, T* C) {
  if (d.is_cpu()) return cpu::gemm<T>(ta, tb, M, N, K, alpha, A, B, beta, C);
  GN_CUDA(cuda::gemm<T>(ta, tb, M, N, K, alpha, A, B, beta, C, stream));
}

template <class T>
void mse(Device d, std::int64_t n, const T* pred, const T* target, T* out) {
  if (d.is_cpu()) {
    out[0] = static_cast<T>(cpu::mse<T>(n, pred, target));
    return;
  }
  GN_CUDA(cuda::mse<T>(n, pred, target, out, stream));
}
template <class T>
void mse_backward(Device d, std::int64_t n, const T* pred, const T* target, const T* g, T* grad) {
  if (d.is_cpu()) return cpu::mse_backward<T>(n, pred, target, g[0], grad);
  GN_CUDA(cuda::mse_backward<T>(n, pred, target, g, grad, stream));
}

template <class T>
void cross_entropy(Device d, std::int64_t N, std::int64_t C, std::int64_t S, const T* logits,
                   const std::int64_t* labels, std::int64_t ignore_index, T* out, std::int64_t* counted) {
  if (d.is_cpu()) {
    const double total = cpu::cross_entropy<T>(N, C, S, logits, labels, ignore_index, counted);
    out[0] = static_cast<T>(counted[0] > 0 ? total / static_cast<double>(counted[0]) : 0.0);
    return;
  }
  GN_CUDA({
    const Tensor flag = Tensor::empty({1}, DType::Int64, d);  // from the caching allocator
    int* bad = static_cast<int*>(flag.raw_data());
    cuda::cross_entropy<T>(N, C, S, logits, labels, ignore_index, out, counted, bad, stream);
    int host_bad = 0;
    cuda::memcpy_device_to_host(&host_bad, bad, sizeof(int));  // documented sync point: label validation
    GN_CHECK(host_bad == 0, "cross_entropy: a label is outside [0, {}) and is not the ignore index {}", C,
             ignore_index);
  });
}
template <class T>
void cross_entropy_backward(Device d, std::int64_t N, std::int64_t C, std::int64_t S, const T* logits,
                            const std::int64_t* labels, std::int64_t ignore_index, const T* g,
                            const std::int64_t* counted, T* grad) {
  if (d.is_cpu()) {
    const T sc = counted[0] > 0 ? g[0] / static_cast<T>(counted[0]) : T(0);
    return cpu::cross_entropy_backward<T>(N, C, S, logits, labels, ignore_index, sc, grad);
  }
  GN_CUDA(cuda::cross_entropy_backward<T>(N, C, S, logits, labels, ignore_index, g, counted, grad, stream));
}

template <class T>
void sgd_step(Device d, std::int64_t n, T* param, const T* grad, T* buf, T lr, T momentum, T wd, bool first) {
  if (d.is_cpu()) return cpu::sgd_step<T>(n, param, grad, buf, lr, momentum, wd, first);
  GN_CUDA(cuda::sgd_step<T>(n, param, grad, buf, lr, momentum, wd, first, stream));
}
template <class T>
void adam_step(Device d, std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps, T wd,
               std::int64_t step) {
  if (d.is_cpu()) return cpu::adam_step<T>(n, param, grad, m, v, lr, beta1, beta2, eps, wd, step);
  GN_CUDA(cuda::adam_step<T>(n, param, grad, m, v, lr, beta1, beta2, eps, wd, step, stream));
}

#define GN_INSTANTIATE(T)                                                                                            \
  template void binary<T>(Device, BinaryOp, const T*, std::span<const std::int64_t>, const T*,                       \
                          std::span<const std::int64_t>, T*, std::span<const std::int64_t>);                         \
  template void axpy<T>(Device, std::int64_t, T, const T*, T*);                                                      \
  template void scale<T>(Device, std::int64_t, T, T*);                                                               \
  template void fill<T>(Device, std::int64_t, T, T*);                                                                \
  template void unary<T>(Device, UnaryOp, std::int64_t, const T*, T*, T);                                            \
  template void unary_backward<T>(Device, UnaryOp, std::int64_t, const T*, const T*, const T*, T*, T);               \
  template void sum_all<T>(Device, std::int64_t, const T*, T, T*);                                                   \
  template void sum_axis<T>(Device, std::int64_t, std::int64_t, std::int64_t, const T*, T, T*);                      \
  template void broadcast_axis<T>(Device, std::int64_t, std::int64_t, std::int64_t, const T*, T, T*);                \
  template void gemm<T>(Device, bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, const T*, T, T*); \
  template void mse<T>(Device, std::int64_t, const T*, const T*, T*);                                                \
  template void mse_backward<T>(Device, std::int64_t, const T*, const T*, const T*, T*);                             \
  template void cross_entropy<T>(Device, std::int64_t, std::int64_t, std::int64_t, const T*, const std::int64_t*,    \
                                 std::int64_t, T*, std::int64_t*);                                                   \
  template void cross_entropy_backward<T>(Device, std::int64_t, std::int64_t, std::int64_t, const T*,                \
                                          const std::int64_t*, std::int64_t, const T*, const std::int64_t*, T*);     \
  template void sgd_step<T>(Device, std::int64_t, T*, const T*, T*, T, T, T, bool);                                  \
  template void adam_step<T>(Device, std::int64_t, T*, const T*, T*, T*, T, T, T, T, T, std::int64_t);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace dispatch
}  // namespace gn
