#include "multitask/loss_count.h"

#include "core/device.h"
#include "core/error.h"
#include "kernels/dense_loss_math.h"

namespace gn::multitask {

namespace {

// The tensor itself on the CPU, a host copy otherwise (tensors are contiguous).
Tensor on_host(const Tensor& t, const char* what) {
  GN_CHECK(t.defined(), "{}: undefined target", what);
  return t.device().is_cpu() ? t : t.to(cpu_device());
}

}  // namespace

double count_positive(const Tensor& target) {
  const Tensor t = on_host(target, "count_positive");
  std::int64_t n = 0;
  GN_DISPATCH_FLOAT(t.dtype(), "count_positive", [&] {
    const scalar_t* p = t.data<scalar_t>();
    for (std::int64_t i = 0; i < t.numel(); ++i) n += depth_valid(static_cast<double>(p[i])) ? 1 : 0;
  });
  return static_cast<double>(n);
}

double count_not_ignored(const Tensor& labels, std::int64_t ignore_index) {
  const Tensor t = on_host(labels, "count_not_ignored");
  GN_CHECK(t.dtype() == DType::Int64, "count_not_ignored: labels must be int64, got {}", dtype_name(t.dtype()));
  const std::int64_t* p = t.data<std::int64_t>();
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) n += p[i] != ignore_index ? 1 : 0;
  return static_cast<double>(n);
}

double count_nonzero_vectors(const Tensor& target) {
  const Tensor t = on_host(target, "count_nonzero_vectors");
  GN_CHECK(t.dim() >= 2 && t.size(0) > 0 && t.size(1) > 0,
           "count_nonzero_vectors: target must be (N, C, ...) with N, C >= 1, got {}", to_string(t.shape()));
  const std::int64_t N = t.size(0), C = t.size(1), S = t.numel() / (N * C);
  std::int64_t n = 0;
  GN_DISPATCH_FLOAT(t.dtype(), "count_nonzero_vectors", [&] {
    const scalar_t* base = t.data<scalar_t>();
    for (std::int64_t b = 0; b < N; ++b)
      for (std::int64_t s = 0; s < S; ++s) {
        const scalar_t* px = base + b * C * S + s;
        n += normal_valid(normal_pixel(px, px, C, S)) ? 1 : 0;
      }
  });
  return static_cast<double>(n);
}

}  // namespace gn::multitask
