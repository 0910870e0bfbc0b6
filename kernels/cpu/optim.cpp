#include "kernels/cpu/optim.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/threads.h"
#include "kernels/error.h"

namespace gn::cpu {

template <class T>
void sgd_step(std::int64_t n, T* param, const T* grad, T* momentum_buf, T lr, T momentum, T weight_decay, bool first) {
  if (momentum_buf == nullptr) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + weight_decay * param[i]);
    return;
  }
  if (first) {  // the buffer starts as d: 0 * buf would turn a non-finite leftover into NaN
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      const T d = grad[i] + weight_decay * param[i];
      momentum_buf[i] = d;
      param[i] -= lr * d;
    }
    return;
  }
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = grad[i] + weight_decay * param[i];
    const T buf = momentum * momentum_buf[i] + d;
    momentum_buf[i] = buf;
    param[i] -= lr * buf;
  }
}

namespace {

// One contiguous range of Adam's update. Restrict-qualified parameters let the compiler vectorise it:
// inside an OpenMP-outlined loop the pointers would be reloaded every iteration (they might alias).
template <class T>
void adam_range(std::int64_t begin, std::int64_t end, T* __restrict param, const T* __restrict grad, T* __restrict m,
                T* __restrict v, T beta1, T beta2, T eps, T weight_decay, T step_size, T bc2_sqrt) {
  for (std::int64_t i = begin; i < end; ++i) {
    const T g = grad[i] + weight_decay * param[i];
    const T mi = beta1 * m[i] + (T(1) - beta1) * g;
    const T vi = beta2 * v[i] + (T(1) - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] -= step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
  }
}

}  // namespace

template <class T>
void adam_step(std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps, T weight_decay,
               std::int64_t step) {
  GN_CHECK(step >= 1, "adam_step: step must be >= 1 (bias correction divides by 1 - beta^step), got {}", step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const T step_size = static_cast<T>(static_cast<double>(lr) / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  constexpr std::int64_t kChunk = kParallelGrain;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t c = 0; c < chunks; ++c)
    adam_range(c * kChunk, std::min(n, (c + 1) * kChunk), param, grad, m, v, beta1, beta2, eps, weight_decay, step_size,
               bc2_sqrt);
}

#define GN_INSTANTIATE(T)                                                   \
  template void sgd_step<T>(std::int64_t, T*, const T*, T*, T, T, T, bool); \
  template void adam_step<T>(std::int64_t, T*, const T*, T*, T*, T, T, T, T, T, std::int64_t);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
