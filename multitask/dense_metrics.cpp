// Segmentation, depth and keypoint metrics (the normal metric, with its histogram: normal_metric.cpp).
// Every add() reads the batch to the host and accumulates in double (evaluation, not the hot path).
#include "multitask/dense_metrics.h"

#include <cmath>

#include "core/autograd.h"
#include "multitask/dense_predictions.h"

namespace gn::multitask {
namespace {

void check_batch(const Tensor& pred, const Tensor& target, const char* metric) {
  check_defined(pred, metric, "prediction");
  check_defined(target, metric, "target");
  GN_CHECK(pred.dim() >= 1 && target.dim() >= 1 && pred.size(0) == target.size(0),
           "{} metric: the prediction {} and the target {} differ in batch size", metric, to_string(pred.shape()),
           to_string(target.shape()));
}

}  // namespace

// ---- segmentation ---------------------------------------------------------------------------------------

SegmentationMetric::SegmentationMetric(std::int64_t classes, std::int64_t ignore_index)
    : classes_(classes), ignore_index_(ignore_index) {
  GN_CHECK(classes >= 1, "segmentation metric: needs at least one class, got {}", classes);
  confusion_.assign(static_cast<std::size_t>(classes * classes), 0.0);
}

void SegmentationMetric::reset() { std::fill(confusion_.begin(), confusion_.end(), 0.0); }

// pred: logits (N, C, h, w) or int64 labels (N, H, W); target: labels (N, H, W).
void SegmentationMetric::add(const Tensor& pred, const Tensor& target) {
  check_batch(pred, target, "segmentation");
  GN_CHECK(target.dim() == 3, "segmentation metric: expects target labels (N, H, W), got shape {}",
           to_string(target.shape()));
  const std::int64_t H = target.size(1), W = target.size(2);
  Tensor labels;
  if (pred.dtype() == DType::Int64) {
    GN_CHECK(pred.shape() == target.shape(), "segmentation metric: predicted labels {} and target {} differ in shape",
             to_string(pred.shape()), to_string(target.shape()));
    labels = pred;
  } else {
    GN_CHECK(pred.dim() == 4 && pred.size(1) == classes_,
             "segmentation metric: expects logits (N, {}, h, w) for {} classes, got shape {}", classes_, classes_,
             to_string(pred.shape()));
    labels = segmentation_labels(pred, H, W);
  }
  const std::vector<double> p = labels.to_vector(), t = target.to_vector();  // host reads
  std::vector<double> batch(confusion_.size(), 0.0);  // committed only when the whole batch is valid
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == static_cast<double>(ignore_index_)) continue;
    GN_CHECK(t[i] >= 0 && t[i] < static_cast<double>(classes_) && t[i] == std::floor(t[i]),
             "segmentation metric: target label {} at element {} is outside [0, {}) and is not the ignore index {}",
             t[i], i, classes_, ignore_index_);
    GN_CHECK(p[i] >= 0 && p[i] < static_cast<double>(classes_),
             "segmentation metric: predicted label {} at element {} is outside [0, {})", p[i], i, classes_);
    batch[static_cast<std::size_t>(t[i]) * static_cast<std::size_t>(classes_) + static_cast<std::size_t>(p[i])] += 1;
  }
  for (std::size_t k = 0; k < batch.size(); ++k) confusion_[k] += batch[k];
}

std::vector<MetricValue> SegmentationMetric::values() const {
  const auto C = static_cast<std::size_t>(classes_);
  double total = 0, correct = 0, iou_sum = 0;
  std::int64_t present = 0;  // classes whose union is not empty
  for (std::size_t c = 0; c < C; ++c) {
    double row = 0, col = 0;  // target c (TP + FN), predicted c (TP + FP)
    for (std::size_t k = 0; k < C; ++k) {
      row += confusion_[c * C + k];
      col += confusion_[k * C + c];
    }
    const double tp = confusion_[c * C + c], uni = row + col - tp;
    total += row;
    correct += tp;
    if (uni > 0) {
      iou_sum += tp / uni;
      ++present;
    }
  }
  GN_CHECK(total > 0,
           "segmentation metric: no pixel was counted before values() (nothing added, or every target "
           "pixel was the ignore index {})",
           ignore_index_);
  const double miou = iou_sum / static_cast<double>(present);
  return {{"miou", miou, true}, {"pixel_acc", correct / total, true}, {"100_minus_iou", 100.0 * (1.0 - miou), false}};
}

void SegmentationMetric::set_accumulators(std::span<const double> acc) {
  check_accumulator_size(acc, confusion_.size(), name());
  confusion_.assign(acc.begin(), acc.end());
}

// ---- depth ----------------------------------------------------------------------------------------------

void DepthMetric::reset() { sq_ = abs_ = rel_ = count_ = 0; }

// pred: (N, 1, h, w); target: (N, 1, H, W) or (N, H, W).
void DepthMetric::add(const Tensor& pred, const Tensor& target) {
  check_batch(pred, target, "depth");
  const bool chw = target.dim() == 4 && target.size(1) == 1;
  GN_CHECK(chw || target.dim() == 3, "depth metric: expects a target (N, 1, H, W) or (N, H, W), got shape {}",
           to_string(target.shape()));
  const std::int64_t H = target.size(target.dim() - 2), W = target.size(target.dim() - 1);
  const std::vector<double> p = depth_at(pred, H, W).to_vector(), t = target.to_vector();  // host reads
  double sq = 0, ab = 0, rel = 0, count = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!(t[i] > 0)) continue;  // invalid: no depth (0) or NaN
    GN_CHECK(std::isfinite(p[i]), "depth metric: the prediction is not finite ({}) at element {}", p[i], i);
    const double d = p[i] - t[i];
    sq += d * d;
    ab += std::abs(d);
    rel += std::abs(d) / t[i];
    count += 1;
  }
  sq_ += sq, abs_ += ab, rel_ += rel, count_ += count;
}

std::vector<MetricValue> DepthMetric::values() const {
  GN_CHECK(count_ > 0, "depth metric: no valid pixel (target > 0) was added before values()");
  return {
      {"rmse", std::sqrt(sq_ / count_), false}, {"abs_err", abs_ / count_, false}, {"rel_err", rel_ / count_, false}};
}

void DepthMetric::set_accumulators(std::span<const double> acc) {
  check_accumulator_size(acc, 4, name());
  sq_ = acc[0], abs_ = acc[1], rel_ = acc[2], count_ = acc[3];
}

// ---- keypoints ------------------------------------------------------------------------------------------

KeypointMetric::KeypointMetric(double presence) : presence_(presence) {}

void KeypointMetric::reset() { sum_ = within_ = count_ = 0; }

// pred: (N, K, h, w); target: (N, K, H, W).
void KeypointMetric::add(const Tensor& pred, const Tensor& target) {
  check_batch(pred, target, "keypoint");
  GN_CHECK(pred.dim() == 4 && target.dim() == 4 && pred.size(1) == target.size(1),
           "keypoint metric: expects heatmaps pred (N, K, h, w) and target (N, K, H, W), got {} and {}",
           to_string(pred.shape()), to_string(target.shape()));
  const std::int64_t N = pred.size(0), K = pred.size(1), h = pred.size(2), w = pred.size(3);
  const std::int64_t H = target.size(2), W = target.size(3);
  GN_CHECK(h > 0 && w > 0 && H > 0 && W > 0, "keypoint metric: empty heatmaps {} and {}", to_string(pred.shape()),
           to_string(target.shape()));
  const std::vector<double> p = pred.to_vector(), t = target.to_vector();  // host reads
  const double diagonal = std::sqrt(static_cast<double>(H * H + W * W));
  double sum = 0, within = 0, count = 0;
  for (std::int64_t m = 0; m < N * K; ++m) {  // one (sample, keypoint) heatmap
    const double* tm = t.data() + m * H * W;
    std::int64_t tb = 0;  // the target's argmax (first maximum, row-major)
    for (std::int64_t i = 1; i < H * W; ++i)
      if (tm[i] > tm[tb]) tb = i;
    if (!(tm[tb] > presence_)) continue;  // an absent keypoint
    const double* pm = p.data() + m * h * w;
    std::int64_t pb = 0;
    for (std::int64_t i = 0; i < h * w; ++i) {
      GN_CHECK(!std::isnan(pm[i]), "keypoint metric: the predicted heatmap is NaN (sample {}, keypoint {})", m / K,
               m % K);
      if (pm[i] > pm[pb]) pb = i;
    }
    // Pixel centres: pred pixel y covers [y, y + 1) h-units, i.e. [y, y + 1) H / h target units.
    const double Y = (static_cast<double>(pb / w) + 0.5) * static_cast<double>(H) / static_cast<double>(h) - 0.5;
    const double X = (static_cast<double>(pb % w) + 0.5) * static_cast<double>(W) / static_cast<double>(w) - 0.5;
    const double dy = Y - static_cast<double>(tb / W), dx = X - static_cast<double>(tb % W);
    const double e = 100.0 * std::sqrt(dy * dy + dx * dx) / diagonal;
    sum += e;
    within += e <= 5.0 ? 1 : 0;
    count += 1;
  }
  sum_ += sum, within_ += within, count_ += count;
}

std::vector<MetricValue> KeypointMetric::values() const {
  GN_CHECK(count_ > 0, "keypoint metric: no present keypoint (target peak > {}) was added before values()", presence_);
  return {{"error_pct", sum_ / count_, false}, {"pck_5", within_ / count_, true}};
}

void KeypointMetric::set_accumulators(std::span<const double> acc) {
  check_accumulator_size(acc, 3, name());
  sum_ = acc[0], within_ = acc[1], count_ = acc[2];
}

}  // namespace gn::multitask
