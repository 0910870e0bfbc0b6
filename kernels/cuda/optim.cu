// CUDA optimizer updates: one elementwise launch per parameter tensor, the same formulas as
// kernels/cpu/optim.cpp (PyTorch's SGD and Adam conventions; see kernels/cpu/optim.h). param and the
// state buffers are updated in place; grad is read only. Adam's bias corrections are formed on the host
// in double from `step`, exactly as the CPU version forms them, and passed in as T scalars.
#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/optim.h"

namespace gn::cuda {
namespace {

using detail::grid_for;
using detail::grid_stride;
using detail::kThreads;
using detail::thread_index;

__device__ inline float d_sqrt(float x) { return sqrtf(x); }
__device__ inline double d_sqrt(double x) { return sqrt(x); }

// d = grad + weight_decay * param; param -= lr * d.
template <class T>
__global__ void sgd_plain_kernel(std::int64_t n, T* param, const T* grad, T lr, T weight_decay) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) param[i] -= lr * (grad[i] + weight_decay * param[i]);
}

// buf = first ? d : momentum * buf + d; param -= lr * buf. On the first step buf is not read (0 * a
// non-finite leftover would be NaN).
template <class T>
__global__ void sgd_momentum_kernel(std::int64_t n, T* param, const T* grad, T* buf, T lr, T momentum, T weight_decay,
                                    bool first) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) {
    const T d = grad[i] + weight_decay * param[i];
    const T b = first ? d : momentum * buf[i] + d;
    buf[i] = b;
    param[i] -= lr * b;
  }
}

// g = grad + wd * param; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// param -= step_size * m / (sqrt(v) / bc2_sqrt + eps), step_size = lr / (1 - b1^step),
// bc2_sqrt = sqrt(1 - b2^step).
template <class T>
__global__ void adam_kernel(std::int64_t n, T* param, const T* grad, T* m, T* v, T beta1, T beta2, T eps,
                            T weight_decay, T step_size, T bc2_sqrt) {
  for (std::int64_t i = thread_index(); i < n; i += grid_stride()) {
    const T g = grad[i] + weight_decay * param[i];
    const T mi = beta1 * m[i] + (T(1) - beta1) * g;
    const T vi = beta2 * v[i] + (T(1) - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] -= step_size * mi / (d_sqrt(vi) / bc2_sqrt + eps);
  }
}

}  // namespace

template <class T>
void sgd_step(std::int64_t n, T* param, const T* grad, T* momentum_buf, T lr, T momentum, T weight_decay, bool first,
              Stream s) {
  if (n <= 0) return;
  if (momentum_buf == nullptr) {
    sgd_plain_kernel<T><<<grid_for(n), kThreads, 0, s>>>(n, param, grad, lr, weight_decay);
  } else {
    sgd_momentum_kernel<T>
        <<<grid_for(n), kThreads, 0, s>>>(n, param, grad, momentum_buf, lr, momentum, weight_decay, first);
  }
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void adam_step(std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps, T weight_decay,
               std::int64_t step, Stream s) {
  GN_CHECK(step >= 1, "adam_step: step must be >= 1 (bias correction divides by 1 - beta^step), got {}", step);
  if (n <= 0) return;
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const T step_size = static_cast<T>(static_cast<double>(lr) / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  adam_kernel<T>
      <<<grid_for(n), kThreads, 0, s>>>(n, param, grad, m, v, beta1, beta2, eps, weight_decay, step_size, bc2_sqrt);
  GN_CUDA_CHECK_LAUNCH();
}

#define GN_INSTANTIATE(T)                                                           \
  template void sgd_step<T>(std::int64_t, T*, const T*, T*, T, T, T, bool, Stream); \
  template void adam_step<T>(std::int64_t, T*, const T*, T*, T*, T, T, T, T, T, std::int64_t, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda
