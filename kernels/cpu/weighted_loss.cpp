#include "kernels/cpu/weighted_loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace gn::cpu {

template <class T>
void combine_task_blocks(std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out) {
  const std::int64_t row = static_cast<std::int64_t>(num_tasks) * D;
  for (std::int64_t b = 0; b < B; ++b) {
    const T* in = deltas + b * row;
    T* o = out + b * D;
    const T w0 = w ? w[0] : T(1);
    for (std::int64_t j = 0; j < D; ++j) o[j] = w0 * in[j];
    for (int t = 1; t < num_tasks; ++t) {
      const T wt = w ? w[t] : T(1);
      const T* blk = in + t * D;
      for (std::int64_t j = 0; j < D; ++j) o[j] += wt * blk[j];
    }
  }
}

template <class T>
void multitask_mse(int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                   double* losses, T* const* grads) {
  for (int t = 0; t < num_tasks; ++t) {
    const T* p = preds[t];
    const T* y = targets[t];
    T* g = grads[t];
    const T scale = n > 0 ? T(2) * w[t] / static_cast<T>(n) : T(0);
    // Sixteen independent accumulators (as in task_norms.cpp): not latency-bound, and a fixed order.
    constexpr int kLanes = 16;
    double lanes[kLanes] = {};
    std::int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const T d = p[j + k] - y[j + k];
        lanes[k] += static_cast<double>(d) * static_cast<double>(d);
        g[j + k] = scale * d;
      }
    for (; j < n; ++j) {
      const T d = p[j] - y[j];
      lanes[0] += static_cast<double>(d) * static_cast<double>(d);
      g[j] = scale * d;
    }
    for (int width = kLanes / 2; width > 0; width /= 2)
      for (int k = 0; k < width; ++k) lanes[k] += lanes[k + width];
    const double acc = lanes[0];
    losses[t] = n > 0 ? acc / static_cast<double>(n) : 0.0;
  }
}

template <class T>
void multitask_mse_float64(int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                           double* losses, double* const* grads) {
  for (int t = 0; t < num_tasks; ++t) {
    std::vector<double> p(preds[t], preds[t] + n), y(targets[t], targets[t] + n);
    const double* pp = p.data();
    const double* yp = y.data();
    const double wt = static_cast<double>(w[t]);
    multitask_mse<double>(1, n, &pp, &yp, &wt, losses + t, grads + t);
  }
}

template <class W>
void record_nonfinite(int num_tasks, const double* losses, const double* sq_norms, const W* weights, std::int64_t step,
                      std::int64_t* record) {
  if (record[0] != 0) return;  // the first divergence is kept
  auto check = [&](auto v, int task, std::int64_t quantity) {
    if (std::isfinite(v)) return false;
    record[0] = step + 1;
    record[1] = task;
    record[2] = quantity;
    record[3] = std::isnan(v) ? kDivergedNaN : (v > 0 ? kDivergedPosInf : kDivergedNegInf);
    return true;
  };
  for (int t = 0; t < num_tasks; ++t)
    if (check(losses[t], t, kDivergedLoss)) return;
  if (sq_norms != nullptr)
    for (int t = 0; t < num_tasks; ++t)
      if (check(sq_norms[t], t, kDivergedNorm)) return;
  if (weights != nullptr)
    for (int t = 0; t < num_tasks; ++t)
      if (check(weights[t], t, kDivergedWeight)) return;
}

template void record_nonfinite<float>(int, const double*, const double*, const float*, std::int64_t, std::int64_t*);
template void record_nonfinite<double>(int, const double*, const double*, const double*, std::int64_t, std::int64_t*);
template void multitask_mse_float64<float>(int, std::int64_t, const float* const*, const float* const*, const float*,
                                           double*, double* const*);
template void multitask_mse_float64<double>(int, std::int64_t, const double* const*, const double* const*,
                                            const double*, double*, double* const*);
template void combine_task_blocks<float>(std::int64_t, int, std::int64_t, const float*, const float*, float*);
template void combine_task_blocks<double>(std::int64_t, int, std::int64_t, const double*, const double*, double*);
template void multitask_mse<float>(int, std::int64_t, const float* const*, const float* const*, const float*, double*,
                                   float* const*);
template void multitask_mse<double>(int, std::int64_t, const double* const*, const double* const*, const double*,
                                    double*, double* const*);

}  // namespace gn::cpu
