#include "kernels/cpu/optim.h"

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

template <class T>
void adam_step(std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps, T weight_decay,
               std::int64_t step) {
  GN_CHECK(step >= 1, "adam_step: step must be >= 1 (bias correction divides by 1 - beta^step), got {}", step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const T step_size = static_cast<T>(static_cast<double>(lr) / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = grad[i] + weight_decay * param[i];
    const T mi = beta1 * m[i] + (T(1) - beta1) * g;
    const T vi = beta2 * v[i] + (T(1) - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] -= step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
  }
}

#define GN_INSTANTIATE(T)                                                   \
  template void sgd_step<T>(std::int64_t, T*, const T*, T*, T, T, T, bool); \
  template void adam_step<T>(std::int64_t, T*, const T*, T*, T*, T, T, T, T, T, std::int64_t);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
