#include "nn/init.h"

#include <cmath>

namespace gn::nn {
namespace {

void check_target(const Tensor& t, const char* fn) {
  GN_CHECK(t.defined(), "{}: the tensor is undefined", fn);
  GN_CHECK(is_floating(t.dtype()), "{}: expects a float32 or float64 tensor, got {} of shape {}", fn,
           dtype_name(t.dtype()), to_string(t.shape()));
}

Fans checked_fans(const Tensor& t, const char* fn) {
  check_target(t, fn);
  GN_CHECK(t.dim() >= 2, "{}: needs a tensor with at least 2 axes (out, in, ...) to compute fans, got shape {}", fn,
           to_string(t.shape()));
  const Fans f = compute_fans(t);
  GN_CHECK(f.fan_in > 0 && f.fan_out > 0, "{}: shape {} has fan_in {} and fan_out {}; both must be > 0", fn,
           to_string(t.shape()), f.fan_in, f.fan_out);
  return f;
}

double leaky_relu_gain(double a) { return std::sqrt(2.0 / (1.0 + a * a)); }

}  // namespace

Fans compute_fans(const Tensor& t) {
  GN_CHECK(t.defined() && t.dim() >= 2, "compute_fans: needs a tensor with at least 2 axes (out, in, ...), got {}",
           t.defined() ? to_string(t.shape()) : std::string("an undefined tensor"));
  std::int64_t receptive = 1;
  for (std::int64_t k = 2; k < t.dim(); ++k) receptive *= t.size(k);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

void uniform_(Tensor& t, Generator& gen, double low, double high) {
  check_target(t, "uniform_");
  // Draws a fresh tensor, then copies into t's own storage so that every alias of t sees the numbers.
  t.copy_(Tensor::uniform(t.shape(), gen, low, high, t.dtype(), t.device()));
}

void normal_(Tensor& t, Generator& gen, double mean, double stddev) {
  check_target(t, "normal_");
  GN_CHECK(stddev >= 0, "normal_: stddev must be >= 0, got {}", stddev);
  t.copy_(Tensor::randn(t.shape(), gen, mean, stddev, t.dtype(), t.device()));
}

void xavier_uniform_(Tensor& t, Generator& gen, double gain) {
  const Fans f = checked_fans(t, "xavier_uniform_");
  const double a = std::abs(gain) * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  uniform_(t, gen, -a, a);
}

void xavier_normal_(Tensor& t, Generator& gen, double gain) {
  const Fans f = checked_fans(t, "xavier_normal_");
  normal_(t, gen, 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out)));
}

void kaiming_uniform_(Tensor& t, Generator& gen, double a) {
  const Fans f = checked_fans(t, "kaiming_uniform_");
  const double bound = leaky_relu_gain(a) * std::sqrt(3.0 / static_cast<double>(f.fan_in));
  uniform_(t, gen, -bound, bound);
}

void kaiming_normal_(Tensor& t, Generator& gen, double a) {
  const Fans f = checked_fans(t, "kaiming_normal_");
  normal_(t, gen, 0.0, leaky_relu_gain(a) / std::sqrt(static_cast<double>(f.fan_in)));
}

void zeros_(Tensor& t) { constant_(t, 0.0); }

void constant_(Tensor& t, double value) {
  check_target(t, "constant_");
  t.fill_(value);
}

}  // namespace gn::nn
