#pragma once
// Metrics of dense prediction (NYUv2: segmentation, depth, surface normals, keypoints), accumulated over the
// whole evaluation set at the TARGET's resolution: a prediction at a lower resolution is first brought to
// the target's size (multitask/dense_predictions.h). Definitions and formulas: docs/dense-tasks.md.
//
// Each add() reads the batch back to the host and accumulates in double: evaluation is not the hot path,
// and double sums of counts are exact (below 2^53), so accumulating batch by batch equals one pass over the
// concatenated set exactly for counts and to rounding for sums. Every accumulator is a sum or a count (the
// Metric contract in multitask/metric.h: shards' accumulators add up to the whole set's).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "multitask/metric.h"

namespace gn::multitask {

// Semantic segmentation from one confusion matrix M (classes x classes; M[t][p] counts pixels of target
// class t predicted as p). pred: float logits (N, C, h, w) with C == classes (labels = argmax after
// upsampling), or int64 labels (N, H, W) already at the target's resolution. target: integer-valued labels
// (N, H, W); pixels labelled ignore_index do not count; any other label outside [0, classes) is an error.
// Values: "miou" (mean over classes whose union TP + FP + FN > 0 of TP / (TP + FP + FN); higher is better),
// "pixel_acc" (correct / counted; higher), "100_minus_iou" (100 (1 - miou), the paper's; lower).
// Accumulators: M row-major (classes^2 counts).
class SegmentationMetric : public Metric {
 public:
  explicit SegmentationMetric(std::int64_t classes, std::int64_t ignore_index = -1);
  std::string name() const override { return "segmentation"; }
  void reset() override;
  void add(const Tensor& pred, const Tensor& target) override;
  std::vector<MetricValue> values() const override;  // throws if no pixel was counted
  std::vector<double> accumulators() const override { return confusion_; }
  void set_accumulators(std::span<const double> acc) override;
  std::int64_t classes() const { return classes_; }

 private:
  std::int64_t classes_, ignore_index_;
  std::vector<double> confusion_;  // (classes, classes): [target][pred]
};

// Depth over the valid pixels (target > 0; NaN targets are invalid too). pred: (N, 1, h, w); target:
// (N, 1, H, W) or (N, H, W). Values (all lower is better): "rmse" (sqrt of the mean squared error over
// every valid pixel of the set, the paper's), "abs_err" (mean |p - t|), "rel_err" (mean |p - t| / t).
// Accumulators: {sum (p - t)^2, sum |p - t|, sum |p - t| / t, valid pixels}.
class DepthMetric : public Metric {
 public:
  std::string name() const override { return "depth"; }
  void reset() override;
  void add(const Tensor& pred, const Tensor& target) override;
  std::vector<MetricValue> values() const override;  // throws if no valid pixel was seen
  std::vector<double> accumulators() const override { return {sq_, abs_, rel_, count_}; }
  void set_accumulators(std::span<const double> acc) override;

 private:
  double sq_ = 0, abs_ = 0, rel_ = 0, count_ = 0;
};

// Surface normals over the valid pixels (target not all zero). pred: (N, 3, h, w), brought to the target's
// size and unit length (normals_at); target: (N, 3, H, W), normalised here too. Per pixel the angle
// a = acos(clamp(<p^, t^>, -1, 1)) in degrees. Values: "mean_deg", "median_deg" (lower is better),
// "within_11_25", "within_22_5", "within_30" (fractions of pixels with a < threshold; higher),
// "one_minus_abs_cos" (mean of 1 - |<p^, t^>|, the paper's; lower).
// The median comes from a histogram of angles (kBins bins of kBinDeg degrees over [0, 180]), so that it
// adds across shards: each order statistic is placed inside its bin by linear interpolation, so the median
// is within one bin width (0.01 degree) of the exact median of the angles.
// Accumulators: {sum a, sum (1 - |cos|), count, count < 11.25, count < 22.5, count < 30, histogram...}.
class NormalMetric : public Metric {
 public:
  static constexpr double kBinDeg = 0.01;
  static constexpr std::int64_t kBins = 18000;  // 180 / kBinDeg
  NormalMetric();
  std::string name() const override { return "normals"; }
  void reset() override;
  void add(const Tensor& pred, const Tensor& target) override;
  std::vector<MetricValue> values() const override;  // throws if no valid pixel was seen
  std::vector<double> accumulators() const override { return acc_; }
  void set_accumulators(std::span<const double> acc) override;

 private:
  std::vector<double> acc_;  // the layout above: 6 sums and counts, then kBins histogram counts
};

// Keypoints as heatmaps, one channel per keypoint. pred: (N, K, h, w); target: (N, K, H, W). A keypoint of
// a sample is present when its target heatmap's peak exceeds `presence` (0.5); absent ones do not count.
// For a present keypoint, with (y, x) the argmax of the predicted heatmap (first maximum in row-major
// order) mapped to target pixel coordinates by pixel centres (Y = (y + 0.5) H / h - 0.5, likewise X;
// the identity when the sizes agree) and (Y*, X*) the argmax of the target heatmap, the error is
//   e = 100 * sqrt((Y - Y*)^2 + (X - X*)^2) / sqrt(H^2 + W^2)   (percent of the target image's diagonal).
// Values: "error_pct" (mean e over present keypoints; lower is better), "pck_5" (the fraction with
// e <= 5; higher). Accumulators: {sum e, count e <= 5, present keypoints}.
class KeypointMetric : public Metric {
 public:
  explicit KeypointMetric(double presence = 0.5);
  std::string name() const override { return "keypoints"; }
  void reset() override;
  void add(const Tensor& pred, const Tensor& target) override;
  std::vector<MetricValue> values() const override;  // throws if no keypoint was present
  std::vector<double> accumulators() const override { return {sum_, within_, count_}; }
  void set_accumulators(std::span<const double> acc) override;

 private:
  double presence_;
  double sum_ = 0, within_ = 0, count_ = 0;
};

}  // namespace gn::multitask
