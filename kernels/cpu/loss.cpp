#include "kernels/cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/error.h"

namespace gn::cpu {

template <class T>
double mse(std::int64_t n, const T* pred, const T* target) {
  // Fixed-order blocked sum, like sum_all, so the loss does not depend on the thread count.
  const std::int64_t blocks = (n + kReduceBlock - 1) / kReduceBlock;
  double total = 0;
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    double acc = 0;
    for (std::int64_t i = blk * kReduceBlock, e = std::min(n, (blk + 1) * kReduceBlock); i < e; ++i) {
      const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
      acc += d * d;
    }
    total += acc;
  }
  return n > 0 ? total / static_cast<double>(n) : 0.0;
}

template <class T>
void mse_backward(std::int64_t n, const T* pred, const T* target, T scale, T* grad) {
  const T k = n > 0 ? T(2) * scale / static_cast<T>(n) : T(0);
  for (std::int64_t i = 0; i < n; ++i) grad[i] = k * (pred[i] - target[i]);
}

namespace {
void check_label(std::int64_t label, std::int64_t C, std::int64_t ignore_index) {
  GN_CHECK(label == ignore_index || (label >= 0 && label < C),
           "cross_entropy: label {} is outside [0, {}) and is not the ignore index {}", label, C, ignore_index);
}
}  // namespace

template <class T>
double cross_entropy(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                     std::int64_t ignore_index, std::int64_t* counted) {
  double total = 0;
  std::int64_t count = 0;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t s = 0; s < S; ++s) {
      const std::int64_t label = labels[n * S + s];
      check_label(label, C, ignore_index);
      if (label == ignore_index) continue;
      const T* z = logits + n * C * S + s;  // class c at z[c * S]
      double mx = -std::numeric_limits<double>::infinity();
      for (std::int64_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(z[c * S]));
      double se = 0;
      for (std::int64_t c = 0; c < C; ++c) se += std::exp(static_cast<double>(z[c * S]) - mx);
      total += std::log(se) + mx - static_cast<double>(z[label * S]);
      ++count;
    }
  *counted = count;
  return total;
}

template <class T>
void cross_entropy_backward(std::int64_t N, std::int64_t C, std::int64_t S, const T* logits, const std::int64_t* labels,
                            std::int64_t ignore_index, T scale, T* grad) {
  std::vector<double> e(static_cast<std::size_t>(C));  // exp(z_c - max), computed once per class
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t s = 0; s < S; ++s) {
      const std::int64_t label = labels[n * S + s];
      check_label(label, C, ignore_index);
      const T* z = logits + n * C * S + s;
      T* g = grad + n * C * S + s;
      if (label == ignore_index) {
        for (std::int64_t c = 0; c < C; ++c) g[c * S] = T(0);
        continue;
      }
      double mx = -std::numeric_limits<double>::infinity();
      for (std::int64_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(z[c * S]));
      double se = 0;
      for (std::int64_t c = 0; c < C; ++c) {
        e[c] = std::exp(static_cast<double>(z[c * S]) - mx);
        se += e[c];
      }
      for (std::int64_t c = 0; c < C; ++c) {
        const double p = e[c] / se;
        g[c * S] = static_cast<T>(scale * (p - (c == label ? 1.0 : 0.0)));
      }
    }
}

#define GN_INSTANTIATE(T)                                                                                          \
  template double mse<T>(std::int64_t, const T*, const T*);                                                        \
  template void mse_backward<T>(std::int64_t, const T*, const T*, T, T*);                                          \
  template double cross_entropy<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const std::int64_t*,        \
                                   std::int64_t, std::int64_t*);                                                   \
  template void cross_entropy_backward<T>(std::int64_t, std::int64_t, std::int64_t, const T*, const std::int64_t*, \
                                          std::int64_t, T, T*);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cpu
