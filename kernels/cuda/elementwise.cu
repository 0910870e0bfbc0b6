// CUDA elementwise kernels: broadcasting binary ops, axpy / scale / fill, unary ops and their backward.
// Same math as kernels/cpu/elementwise.cpp. Every kernel is a grid-stride loop with 64-bit indices; every
// launch runs on the caller's stream and is followed by GN_CUDA_CHECK_LAUNCH. n = 0 launches nothing.
#include "kernels/cuda/check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/launch.cuh"

namespace gn::cuda {
namespace {

using detail::grid_for;
using detail::grid_stride;
using detail::kThreads;
using detail::thread_index;

// ---- device math, overloaded per dtype (float calls the f-suffixed functions) ---------------------

__device__ inline float d_exp(float x) { return expf(x); }
__device__ inline double d_exp(double x) { return exp(x); }
__device__ inline float d_log(float x) { return logf(x); }
__device__ inline double d_log(double x) { return log(x); }
__device__ inline float d_sqrt(float x) { return sqrtf(x); }
__device__ inline double d_sqrt(double x) { return sqrt(x); }
__device__ inline float d_abs(float x) { return fabsf(x); }
__device__ inline double d_abs(double x) { return fabs(x); }
__device__ inline float d_tanh(float x) { return tanhf(x); }
__device__ inline double d_tanh(double x) { return tanh(x); }
__device__ inline float d_pow(float x, float p) { return powf(x, p); }
__device__ inline double d_pow(double x, double p) { return pow(x, p); }

// ---- binary ---------------------------------------------------------------------------------------

// The output's shape and each operand's element stride per output axis (0 on broadcast axes), passed to
// the kernel by value.
struct BinaryGeometry {
  int nd = 0;
  std::int64_t shape[8] = {};
  std::int64_t a_stride[8] = {};
  std::int64_t b_stride[8] = {};
};

template <BinaryOp Op, class T>
__device__ inline T apply_binary(T a, T b) {
  if constexpr (Op == BinaryOp::Add) return a + b;
  if constexpr (Op == BinaryOp::Sub) return a - b;
  if constexpr (Op == BinaryOp::Mul) return a * b;
  if constexpr (Op == BinaryOp::Div) return a / b;
}

// a, b, out all contiguous over n elements: out[i] = a[i] (op) b[i].
template <BinaryOp Op, class T>
__global__ void binary_contiguous_kernel(std::int64_t n, const T* a, const T* b, T* out) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) out[i] = apply_binary<Op>(a[i], b[i]);
}

// General case: output index i (row-major over g.shape) is split into per-axis indices, which give the
// operands' offsets through their strides.
template <BinaryOp Op, class T>
__global__ void binary_strided_kernel(std::int64_t n, const T* a, const T* b, T* out, BinaryGeometry g) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) {
    std::int64_t rest = i, ao = 0, bo = 0;
    for (int k = g.nd - 1; k >= 0; --k) {
      const std::int64_t idx = rest % g.shape[k];
      rest /= g.shape[k];
      ao += idx * g.a_stride[k];
      bo += idx * g.b_stride[k];
    }
    out[i] = apply_binary<Op>(a[ao], b[bo]);
  }
}

template <BinaryOp Op, class T>
void launch_binary(bool contiguous, std::int64_t n, const T* a, const T* b, T* out, const BinaryGeometry& g, Stream s) {
  if (contiguous) {
    binary_contiguous_kernel<Op, T><<<grid_for(n), kThreads, 0, s>>>(n, a, b, out);
  } else {
    binary_strided_kernel<Op, T><<<grid_for(n), kThreads, 0, s>>>(n, a, b, out, g);
  }
  GN_CUDA_CHECK_LAUNCH();
}

// ---- axpy / scale / fill --------------------------------------------------------------------------

template <class T>
__global__ void axpy_kernel(std::int64_t n, T alpha, const T* b, T* a) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) a[i] += alpha * b[i];
}

template <class T>
__global__ void scale_kernel(std::int64_t n, T s, T* a) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) a[i] *= s;
}

template <class T>
__global__ void fill_kernel(std::int64_t n, T value, T* a) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) a[i] = value;
}

// ---- unary ----------------------------------------------------------------------------------------

template <UnaryOp Op, class T>
__device__ inline T apply_unary(T x, T p) {
  if constexpr (Op == UnaryOp::Neg) return -x;
  if constexpr (Op == UnaryOp::Exp) return d_exp(x);
  if constexpr (Op == UnaryOp::Log) return d_log(x);
  if constexpr (Op == UnaryOp::Sqrt) return d_sqrt(x);
  if constexpr (Op == UnaryOp::Abs) return d_abs(x);
  if constexpr (Op == UnaryOp::Relu) return x > T(0) ? x : T(0);
  if constexpr (Op == UnaryOp::Tanh) return d_tanh(x);
  if constexpr (Op == UnaryOp::Sigmoid) return T(1) / (T(1) + d_exp(-x));
  if constexpr (Op == UnaryOp::Pow) return d_pow(x, p);
}

// gx = gy * f'(x), from x or y = f(x) as kernels/cpu/elementwise.cpp does.
template <UnaryOp Op, class T>
__device__ inline T apply_unary_backward(T x, T y, T gy, T p) {
  if constexpr (Op == UnaryOp::Neg) return -gy;
  if constexpr (Op == UnaryOp::Exp) return gy * y;
  if constexpr (Op == UnaryOp::Log) return gy / x;
  if constexpr (Op == UnaryOp::Sqrt) return gy * T(0.5) / y;
  if constexpr (Op == UnaryOp::Abs) return x > T(0) ? gy : (x < T(0) ? -gy : T(0));
  if constexpr (Op == UnaryOp::Relu) return x > T(0) ? gy : T(0);
  if constexpr (Op == UnaryOp::Tanh) return gy * (T(1) - y * y);
  if constexpr (Op == UnaryOp::Sigmoid) return gy * y * (T(1) - y);
  if constexpr (Op == UnaryOp::Pow) return p == T(0) ? T(0) : gy * p * d_pow(x, p - T(1));  // 0 * inf at x = 0
}

// Ops whose backward reads x (the others read only y and gy; their x may be a null pointer).
__host__ __device__ constexpr bool backward_reads_x(UnaryOp op) {
  return op == UnaryOp::Log || op == UnaryOp::Abs || op == UnaryOp::Relu || op == UnaryOp::Pow;
}
// Ops whose backward reads y (the others may be given a null y).
__host__ __device__ constexpr bool backward_reads_y(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Tanh || op == UnaryOp::Sigmoid;
}

template <UnaryOp Op, class T>
__global__ void unary_kernel(std::int64_t n, const T* x, T* y, T p) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) y[i] = apply_unary<Op>(x[i], p);
}

template <UnaryOp Op, class T>
__global__ void unary_backward_kernel(std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) {
    const T xi = backward_reads_x(Op) ? x[i] : T(0);
    const T yi = backward_reads_y(Op) ? y[i] : T(0);
    gx[i] = apply_unary_backward<Op>(xi, yi, gy[i], p);
  }
}

template <UnaryOp Op, class T>
void launch_unary(std::int64_t n, const T* x, T* y, T p, Stream s) {
  unary_kernel<Op, T><<<grid_for(n), kThreads, 0, s>>>(n, x, y, p);
  GN_CUDA_CHECK_LAUNCH();
}

template <UnaryOp Op, class T>
void launch_unary_backward(std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p, Stream s) {
  unary_backward_kernel<Op, T><<<grid_for(n), kThreads, 0, s>>>(n, x, y, gy, gx, p);
  GN_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
void binary(BinaryOp op, const T* a, std::span<const std::int64_t> a_strides, const T* b,
            std::span<const std::int64_t> b_strides, T* out, std::span<const std::int64_t> out_shape, Stream s) {
  const int nd = static_cast<int>(out_shape.size());
  GN_CHECK(nd <= 8, "cuda::binary: {} axes exceed the kernel's limit of 8", nd);
  GN_CHECK(a_strides.size() == out_shape.size() && b_strides.size() == out_shape.size(),
           "cuda::binary: {} output axes but {} / {} operand strides", nd, a_strides.size(), b_strides.size());
  std::int64_t n = 1;
  for (auto d : out_shape) n *= d;
  if (n == 0) return;

  BinaryGeometry g;
  g.nd = nd;
  bool contiguous = true;  // both operands laid out exactly like the output
  std::int64_t stride = 1;
  for (int k = nd - 1; k >= 0; --k) {
    g.shape[k] = out_shape[k];
    g.a_stride[k] = a_strides[k];
    g.b_stride[k] = b_strides[k];
    if (out_shape[k] != 1) contiguous = contiguous && a_strides[k] == stride && b_strides[k] == stride;
    stride *= out_shape[k];
  }
  switch (op) {
    case BinaryOp::Add:
      return launch_binary<BinaryOp::Add>(contiguous, n, a, b, out, g, s);
    case BinaryOp::Sub:
      return launch_binary<BinaryOp::Sub>(contiguous, n, a, b, out, g, s);
    case BinaryOp::Mul:
      return launch_binary<BinaryOp::Mul>(contiguous, n, a, b, out, g, s);
    case BinaryOp::Div:
      return launch_binary<BinaryOp::Div>(contiguous, n, a, b, out, g, s);
  }
  GN_FAIL("cuda::binary: unknown op {}", static_cast<int>(op));
}

template <class T>
void axpy(std::int64_t n, T alpha, const T* b, T* a, Stream s) {
  if (n <= 0) return;
  axpy_kernel<T><<<grid_for(n), kThreads, 0, s>>>(n, alpha, b, a);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void scale(std::int64_t n, T scale, T* a, Stream s) {
  if (n <= 0) return;
  scale_kernel<T><<<grid_for(n), kThreads, 0, s>>>(n, scale, a);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void fill(std::int64_t n, T value, T* a, Stream s) {
  if (n <= 0) return;
  fill_kernel<T><<<grid_for(n), kThreads, 0, s>>>(n, value, a);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void unary(UnaryOp op, std::int64_t n, const T* x, T* y, T p, Stream s) {
  if (n <= 0) return;
  switch (op) {
    case UnaryOp::Neg:
      return launch_unary<UnaryOp::Neg>(n, x, y, p, s);
    case UnaryOp::Exp:
      return launch_unary<UnaryOp::Exp>(n, x, y, p, s);
    case UnaryOp::Log:
      return launch_unary<UnaryOp::Log>(n, x, y, p, s);
    case UnaryOp::Sqrt:
      return launch_unary<UnaryOp::Sqrt>(n, x, y, p, s);
    case UnaryOp::Abs:
      return launch_unary<UnaryOp::Abs>(n, x, y, p, s);
    case UnaryOp::Relu:
      return launch_unary<UnaryOp::Relu>(n, x, y, p, s);
    case UnaryOp::Tanh:
      return launch_unary<UnaryOp::Tanh>(n, x, y, p, s);
    case UnaryOp::Sigmoid:
      return launch_unary<UnaryOp::Sigmoid>(n, x, y, p, s);
    case UnaryOp::Pow:
      return launch_unary<UnaryOp::Pow>(n, x, y, p, s);
  }
  GN_FAIL("cuda::unary: unknown op {}", static_cast<int>(op));
}

template <class T>
void unary_backward(UnaryOp op, std::int64_t n, const T* x, const T* y, const T* gy, T* gx, T p, Stream s) {
  if (n <= 0) return;
  switch (op) {
    case UnaryOp::Neg:
      return launch_unary_backward<UnaryOp::Neg>(n, x, y, gy, gx, p, s);
    case UnaryOp::Exp:
      return launch_unary_backward<UnaryOp::Exp>(n, x, y, gy, gx, p, s);
    case UnaryOp::Log:
      return launch_unary_backward<UnaryOp::Log>(n, x, y, gy, gx, p, s);
    case UnaryOp::Sqrt:
      return launch_unary_backward<UnaryOp::Sqrt>(n, x, y, gy, gx, p, s);
    case UnaryOp::Abs:
      return launch_unary_backward<UnaryOp::Abs>(n, x, y, gy, gx, p, s);
    case UnaryOp::Relu:
      return launch_unary_backward<UnaryOp::Relu>(n, x, y, gy, gx, p, s);
    case UnaryOp::Tanh:
      return launch_unary_backward<UnaryOp::Tanh>(n, x, y, gy, gx, p, s);
    case UnaryOp::Sigmoid:
      return launch_unary_backward<UnaryOp::Sigmoid>(n, x, y, gy, gx, p, s);
    case UnaryOp::Pow:
      return launch_unary_backward<UnaryOp::Pow>(n, x, y, gy, gx, p, s);
  }
  GN_FAIL("cuda::unary_backward: unknown op {}", static_cast<int>(op));
}

#define GN_INSTANTIATE(T)                                                                                             \
  template void binary<T>(BinaryOp, const T*, std::span<const std::int64_t>, const T*, std::span<const std::int64_t>, \
                          T*, std::span<const std::int64_t>, Stream);                                                 \
  template void axpy<T>(std::int64_t, T, const T*, T*, Stream);                                                       \
  template void scale<T>(std::int64_t, T, T*, Stream);                                                                \
  template void fill<T>(std::int64_t, T, T*, Stream);                                                                 \
  template void unary<T>(UnaryOp, std::int64_t, const T*, T*, T, Stream);                                             \
  template void unary_backward<T>(UnaryOp, std::int64_t, const T*, const T*, const T*, T*, T, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda
