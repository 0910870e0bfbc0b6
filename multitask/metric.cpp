#include "multitask/metric.h"

#include "core/autograd.h"
#include "core/ops.h"

namespace gn::multitask {

void check_accumulator_size(std::span<const double> acc, std::size_t expected, const std::string& metric) {
  GN_CHECK(acc.size() == expected, "{} metric: set_accumulators got {} numbers, expected {}", metric, acc.size(),
           expected);
}

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
  count_ += static_cast<double>(n);
}

std::vector<MetricValue> MseMetric::values() const {
  GN_CHECK(count_ > 0, "mse metric: no element was added before values()");
  return {{"mse", sum_ / count_, false}};
}

void MseMetric::set_accumulators(std::span<const double> acc) {
  check_accumulator_size(acc, 2, name());
  sum_ = acc[0];
  count_ = acc[1];
}

}  // namespace gn::multitask
