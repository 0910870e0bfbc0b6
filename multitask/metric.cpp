#include "multitask/metric.h"

#include "core/autograd.h"
#include "core/ops.h"

namespace gn::multitask {

void MseMetric::reset() {
  sum_ = 0;
  count_ = 0;
}

void MseMetric::add(const Tensor& pred, const Tensor& target) {
  NoGradGuard no_grad;
  const std::int64_t n = pred.numel();
  if (n == 0) return;
  // The batch's mean (a fixed-order double sum on the device), times its count: exact for a single batch.
  sum_ += mse_loss(pred, target).item() * static_cast<double>(n);
  count_ += n;
}

double MseMetric::value() const {
  GN_CHECK(count_ > 0, "mse metric: no element was added before value()");
  return sum_ / static_cast<double>(count_);
}

}  // namespace gn::multitask
