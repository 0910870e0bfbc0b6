// NormalMetric (multitask/dense_metrics.h): angular errors of surface normals, with the median from a
// histogram so that every accumulator is a sum. Host reads and double accumulation, as the other metrics.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "multitask/dense_metrics.h"
#include "multitask/dense_predictions.h"

namespace gn::multitask {
namespace {

// The layout of the accumulators: six sums and counts, then the histogram.
enum Slot : std::size_t { kSumDeg, kSumOneMinusAbsCos, kCount, kWithin11, kWithin22, kWithin30, kHist };
constexpr double kThresholds[3] = {11.25, 22.5, 30.0};

}  // namespace

NormalMetric::NormalMetric() { acc_.assign(kHist + static_cast<std::size_t>(kBins), 0.0); }

void NormalMetric::reset() { std::fill(acc_.begin(), acc_.end(), 0.0); }

// pred: (N, 3, h, w); target: (N, 3, H, W).
void NormalMetric::add(const Tensor& pred, const Tensor& target) {
  check_defined(pred, "normal metric", "prediction");
  check_defined(target, "normal metric", "target");
  GN_CHECK(target.dim() == 4 && target.size(1) == 3 && pred.dim() == 4 && pred.size(0) == target.size(0),
           "normal metric: expects pred (N, 3, h, w) and target (N, 3, H, W), got {} and {}", to_string(pred.shape()),
           to_string(target.shape()));
  const std::int64_t N = target.size(0), H = target.size(2), W = target.size(3), P = H * W;
  const std::vector<double> p = normals_at(pred, H, W).to_vector(), t = target.to_vector();  // host reads
  std::vector<double> batch(acc_.size(), 0.0);  // committed only when the whole batch is valid
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < P; ++i) {
      const double* pv = p.data() + n * 3 * P + i;  // component k at pv[k * P]
      const double* tv = t.data() + n * 3 * P + i;
      const double tn = std::sqrt(tv[0] * tv[0] + tv[P] * tv[P] + tv[2 * P] * tv[2 * P]);
      if (!(tn > 0) || !std::isfinite(tn)) continue;  // invalid: an all-zero (or non-finite) target
      const double dot = pv[0] * tv[0] + pv[P] * tv[P] + pv[2 * P] * tv[2 * P];
      GN_CHECK(std::isfinite(dot), "normal metric: the prediction is not finite (sample {}, pixel {})", n, i);
      const double cos = std::clamp(dot / tn, -1.0, 1.0);
      const double deg = std::acos(cos) * 180.0 / std::numbers::pi;
      batch[kSumDeg] += deg;
      batch[kSumOneMinusAbsCos] += 1.0 - std::abs(cos);
      batch[kCount] += 1;
      for (int k = 0; k < 3; ++k) batch[kWithin11 + static_cast<std::size_t>(k)] += deg < kThresholds[k] ? 1 : 0;
      const auto bin = std::min(static_cast<std::int64_t>(deg / kBinDeg), kBins - 1);  // 180 joins the last bin
      batch[kHist + static_cast<std::size_t>(bin)] += 1;
    }
  for (std::size_t k = 0; k < acc_.size(); ++k) acc_[k] += batch[k];
}

std::vector<MetricValue> NormalMetric::values() const {
  const double n = acc_[kCount];
  GN_CHECK(n > 0, "normal metric: no valid pixel (target not all zero) was added before values()");
  // The r-th smallest angle (1-based), placed inside its bin: the bin's c angles are taken as spread evenly,
  // the j-th of them (j = 1..c) at (j - 1/2) / c of the bin's width. So it lies in the same bin as the
  // exact order statistic: within kBinDeg of it.
  const auto order_statistic = [&](double r) {
    double before = 0;
    for (std::int64_t b = 0; b < kBins; ++b) {
      const double c = acc_[kHist + static_cast<std::size_t>(b)];
      if (before + c >= r) return (static_cast<double>(b) + (r - before - 0.5) / c) * kBinDeg;
      before += c;
    }
    GN_FAIL("normal metric: the histogram holds fewer angles than the count {} (inconsistent accumulators)", n);
  };
  // The median: the middle angle, or the mean of the two middle ones for an even count.
  const double half = std::floor(n / 2);
  const double median =
      std::fmod(n, 2.0) == 1.0 ? order_statistic(half + 1) : 0.5 * (order_statistic(half) + order_statistic(half + 1));
  return {{"mean_deg", acc_[kSumDeg] / n, false},      {"median_deg", median, false},
          {"within_11_25", acc_[kWithin11] / n, true}, {"within_22_5", acc_[kWithin22] / n, true},
          {"within_30", acc_[kWithin30] / n, true},    {"one_minus_abs_cos", acc_[kSumOneMinusAbsCos] / n, false}};
}

void NormalMetric::set_accumulators(std::span<const double> acc) {
  check_accumulator_size(acc, acc_.size(), name());
  acc_.assign(acc.begin(), acc.end());
}

}  // namespace gn::multitask
