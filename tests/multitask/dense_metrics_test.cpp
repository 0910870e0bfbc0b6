// Dense-prediction metrics (multitask/dense_metrics.h), the predictions at target resolution
// (multitask/dense_predictions.h), Delta_m (multitask/delta_m.h) and the accumulators contract of every
// multitask::Metric. The expected numbers are worked out by hand in the comments.
#include "multitask/dense_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <numbers>

#include "core/rng.h"
#include "multitask/delta_m.h"
#include "multitask/dense_predictions.h"

namespace gn::multitask {
namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kTol = 1e-12;

Tensor f64(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape, DType::Float64); }
Tensor labels(const std::vector<std::int64_t>& v, const Shape& shape) { return Tensor::from_labels(v, shape); }

double value_of(const std::vector<MetricValue>& vs, const std::string& name) {
  for (const MetricValue& v : vs)
    if (v.name == name) return v.value;
  ADD_FAILURE() << "no metric value named " << name;
  return NAN;
}

std::vector<std::string> names_of(const std::vector<MetricValue>& vs) {
  std::vector<std::string> out;
  for (const MetricValue& v : vs) out.push_back(v.name);
  return out;
}

std::vector<bool> directions_of(const std::vector<MetricValue>& vs) {
  std::vector<bool> out;
  for (const MetricValue& v : vs) out.push_back(v.higher_is_better);
  return out;
}

// ---- segmentation ---------------------------------------------------------------------------------------

TEST(SegmentationMetric, ConfusionMatrixByHand) {
  SegmentationMetric m(4);  // ignore_index -1
  // target  0  0  1     pred  0  1  1
  //         1 -1  2           1  2  0
  // Counted (target, pred): (0,0) (0,1) (1,1) (1,1) (2,0); the ignored pixel (predicted 2) does not count.
  //   class 0: TP 1, FN 1 (0->1), FP 1 (2->0): IoU 1/3
  //   class 1: TP 2, FP 1 (0->1), FN 0:        IoU 2/3
  //   class 2: TP 0, FN 1 (2->0), FP 0:        IoU 0 (had the ignored pixel counted, FP 1: still 0, but
  //                                             pixel_acc would be 3/6)
  //   class 3: in neither target nor prediction: union 0, left out of the mean (counting it: 1/4)
  // mIoU = (1/3 + 2/3 + 0) / 3 = 1/3; pixel_acc = 3 / 5; 100_minus_iou = 100 (1 - 1/3) = 200/3.
  m.add(labels({0, 1, 1, 1, 2, 0}, {1, 2, 3}), labels({0, 0, 1, 1, -1, 2}, {1, 2, 3}));
  const auto v = m.values();
  EXPECT_EQ(names_of(v), (std::vector<std::string>{"miou", "pixel_acc", "100_minus_iou"}));
  EXPECT_EQ(directions_of(v), (std::vector<bool>{true, true, false}));
  EXPECT_NEAR(value_of(v, "miou"), 1.0 / 3.0, kTol);
  EXPECT_NEAR(value_of(v, "pixel_acc"), 3.0 / 5.0, kTol);
  EXPECT_NEAR(value_of(v, "100_minus_iou"), 200.0 / 3.0, 1e-10);
  // M[target][pred], row-major 4 x 4.
  const std::vector<double> expected{1, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(m.accumulators(), expected);
}

TEST(SegmentationMetric, LowResolutionLogitsAreUpsampledBeforeTheArgmax) {
  // logits (1, 2, 1, 2): class 0 = [1, 0], class 1 = [0, 0.2], to (H, W) = (2, 4). Bilinear, align_corners
  // false, width 2 -> 4: src x = (o + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1):
  //   out = [v0, 0.75 v0 + 0.25 v1, 0.25 v0 + 0.75 v1, v1]   (height 1 -> 2: both rows the same)
  //   class 0: [1, 0.75, 0.25, 0];  class 1: [0, 0.05, 0.15, 0.2]  -> argmax [0, 0, 0, 1]
  // (upsampling the labels [0, 1] instead, nearest or bilinear, would give [0, 0, 1, 1]).
  const Tensor logits = f64({1, 0, 0, 0.2}, {1, 2, 1, 2});
  const Tensor lab = segmentation_labels(logits, 2, 4);
  EXPECT_EQ(lab.dtype(), DType::Int64);
  EXPECT_EQ(lab.shape(), (Shape{1, 2, 4}));
  EXPECT_EQ(lab.to_vector(), (std::vector<double>{0, 0, 0, 1, 0, 0, 0, 1}));
  // target row 0: 0 0 1 1; row 1: 0 1 -1 1. (target, pred): (0,0) (0,0) (1,0) (1,1) | (0,0) (1,0) ignored (1,1)
  //   M = [[3, 0], [2, 2]]: class 0 IoU 3 / (3 + 2) = 0.6, class 1 IoU 2 / (2 + 2) = 0.5
  //   mIoU = 0.55, pixel_acc = 5 / 7.
  SegmentationMetric m(2);
  m.add(logits, labels({0, 0, 1, 1, 0, 1, -1, 1}, {1, 2, 4}));
  EXPECT_NEAR(value_of(m.values(), "miou"), 0.55, kTol);
  EXPECT_NEAR(value_of(m.values(), "pixel_acc"), 5.0 / 7.0, kTol);
  // The same logits at full resolution give the same labels: no upsampling at equal sizes.
  EXPECT_EQ(segmentation_labels(logits, 1, 2).to_vector(), (std::vector<double>{0, 1}));
  // Ties go to the lowest class (as torch.argmax); a NaN logit is refused.
  EXPECT_EQ(segmentation_labels(f64({0.5, 2, 2}, {1, 3, 1, 1}), 1, 1).to_vector(), (std::vector<double>{1}));
  EXPECT_THROW(segmentation_labels(f64({0.5, NAN}, {1, 2, 1, 1}), 1, 1), Error);
}

TEST(SegmentationMetric, IgnoreIndexAndBadLabels) {
  SegmentationMetric m(3, 255);
  // target 255 2 0 with pred 1 2 1: counted (2,2) (0,1): pixel_acc 1/2; classes 0 (IoU 0), 1 (IoU 0, FP 1),
  // 2 (IoU 1): mIoU 1/3.
  m.add(labels({1, 2, 1}, {1, 1, 3}), labels({255, 2, 0}, {1, 1, 3}));
  EXPECT_NEAR(value_of(m.values(), "pixel_acc"), 0.5, kTol);
  EXPECT_NEAR(value_of(m.values(), "miou"), 1.0 / 3.0, kTol);
  const auto before = m.accumulators();
  EXPECT_THROW(m.add(labels({0, 0}, {1, 1, 2}), labels({0, 3}, {1, 1, 2})), Error);   // 3 >= classes
  EXPECT_THROW(m.add(labels({0, 0}, {1, 1, 2}), labels({0, -1}, {1, 1, 2})), Error);  // -1 is not 255 here
  EXPECT_THROW(m.add(f64({0, 0}, {1, 1, 2}).to(DType::Float32), f64({0, 0.5}, {1, 1, 2})), Error);  // not 4-d logits
  EXPECT_THROW(m.add(f64({0, 0, 0, 0, 0, 0}, {1, 3, 1, 2}), f64({0, 0.5}, {1, 1, 2})), Error);      // label 0.5
  EXPECT_THROW(m.add(f64({0, 0, 0, 0}, {1, 2, 1, 2}), labels({0, 0}, {1, 1, 2})), Error);           // 2 classes != 3
  EXPECT_EQ(m.accumulators(), before) << "a refused batch must leave the state as it was";
}

TEST(SegmentationMetric, NothingCountedIsAnError) {
  SegmentationMetric m(3);
  EXPECT_THROW(m.values(), Error);  // nothing added
  m.add(labels({0, 1}, {1, 1, 2}), labels({-1, -1}, {1, 1, 2}));
  EXPECT_THROW(m.values(), Error);  // only ignored pixels
}

// ---- depth ----------------------------------------------------------------------------------------------

TEST(DepthMetric, ValidPixelsByHand) {
  DepthMetric m;
  // image 0: pred [3 7; 5 1], target [1 0; 4 2]: the 0 is invalid (pred 7 does not count).
  //   d = p - t over valid: 2, 1, -1.  sum d^2 = 4 + 1 + 1 = 6; sum |d| = 4; sum |d| / t = 2 + 1/4 + 1/2 = 2.75
  // image 1: target all 0 (and one NaN): contributes nothing, whatever its prediction.
  // rmse = sqrt(6 / 3) = sqrt(2); abs_err = 4 / 3; rel_err = 2.75 / 3.
  m.add(f64({3, 7, 5, 1, 9, 9, 9, 9}, {2, 1, 2, 2}), f64({1, 0, 4, 2, 0, 0, NAN, 0}, {2, 1, 2, 2}));
  const auto v = m.values();
  EXPECT_EQ(names_of(v), (std::vector<std::string>{"rmse", "abs_err", "rel_err"}));
  EXPECT_EQ(directions_of(v), (std::vector<bool>{false, false, false}));
  EXPECT_NEAR(value_of(v, "rmse"), std::sqrt(2.0), kTol);
  EXPECT_NEAR(value_of(v, "abs_err"), 4.0 / 3.0, kTol);
  EXPECT_NEAR(value_of(v, "rel_err"), 2.75 / 3.0, kTol);
  EXPECT_EQ(m.accumulators()[3], 3.0);  // valid pixels
}

TEST(DepthMetric, LowResolutionPredictionAndAnAllInvalidSet) {
  DepthMetric m;
  // pred (1, 1, 1, 2) = [0, 4] -> width 4 (bilinear, as above): [0, 1, 3, 4]; target (N, H, W) all 1.
  //   d = -1, 0, 2, 3: sum d^2 = 14 -> rmse sqrt(14 / 4) = sqrt(3.5); abs_err = 6 / 4; rel_err = 6 / 4.
  m.add(f64({0, 4}, {1, 1, 1, 2}), f64({1, 1, 1, 1}, {1, 1, 4}));
  EXPECT_NEAR(value_of(m.values(), "rmse"), std::sqrt(3.5), kTol);
  EXPECT_NEAR(value_of(m.values(), "abs_err"), 1.5, kTol);
  EXPECT_NEAR(value_of(m.values(), "rel_err"), 1.5, kTol);
  EXPECT_EQ(depth_at(f64({0, 4}, {1, 1, 1, 2}), 1, 4).to_vector(), (std::vector<double>{0, 1, 3, 4}));

  DepthMetric none;
  EXPECT_THROW(none.values(), Error);
  none.add(f64({1, 2}, {1, 1, 1, 2}), f64({0, -1}, {1, 1, 2}));  // no target > 0
  EXPECT_THROW(none.values(), Error);
  EXPECT_THROW(none.add(f64({1, 2}, {1, 2, 1, 1}), f64({1}, {1, 1, 1})), Error);           // 2 channels
  EXPECT_THROW(none.add(f64({NAN, 2}, {1, 1, 1, 2}), f64({1, 1}, {1, 1, 2})), Error);      // NaN where valid
  EXPECT_THROW(none.add(f64({1, 2}, {1, 1, 1, 2}), f64({1, 1, 1, 1}, {2, 1, 2})), Error);  // batch 1 vs 2
  EXPECT_NO_THROW(none.add(f64({NAN, 2}, {1, 1, 1, 2}), f64({0, 1}, {1, 1, 2})));          // NaN where invalid: unused
}

// ---- surface normals ------------------------------------------------------------------------------------

// A (1, 3, 1, W) tensor from W 3-vectors, one per pixel.
Tensor normal_row(const std::vector<std::array<double, 3>>& px) {
  const auto W = static_cast<std::int64_t>(px.size());
  std::vector<double> v(static_cast<std::size_t>(3 * W));
  for (std::int64_t i = 0; i < W; ++i)
    for (int k = 0; k < 3; ++k) v[static_cast<std::size_t>(k * W + i)] = px[static_cast<std::size_t>(i)][k];
  return f64(v, {1, 3, 1, W});
}

std::array<double, 3> at_angle(double deg, double scale = 1) {  // deg from +z, in the xz plane
  return {scale * std::sin(deg * kPi / 180), 0, scale * std::cos(deg * kPi / 180)};
}

TEST(NormalMetric, AnglesByHand) {
  NormalMetric m;
  // pixel  target        pred                   angle
  //   0    (0, 0, 2)     (0, 0, 5)              0    (neither is unit length: both are normalised)
  //   1    (0, 0, 4)     3 (sin 20, 0, cos 20)  20   (an unnormalised target would clamp cos to 1: 0)
  //   2    (0, 0, 0)     (1, 0, 0)              invalid: an all-zero target
  //   3    (0, 0, 1)     (sin 25, 0, cos 25)    25
  //   4    (0, 1, 0)     (0, 0, 1)              90
  //   5    (3, 0, 0)     (-2, 0, 0)             180  (cos -1: clamped, 1 - |cos| = 0)
  // 5 valid: mean (0 + 20 + 25 + 90 + 180) / 5 = 63; median 25 (odd count: the middle one)
  // within 11.25: {0} 1/5; within 22.5: {0, 20} 2/5; within 30: {0, 20, 25} 3/5
  // one_minus_abs_cos = (0 + (1 - cos 20) + (1 - cos 25) + 1 + 0) / 5
  m.add(normal_row({{0, 0, 5}, at_angle(20, 3), {1, 0, 0}, at_angle(25), {0, 0, 1}, {-2, 0, 0}}),
        normal_row({{0, 0, 2}, {0, 0, 4}, {0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {3, 0, 0}}));
  const auto v = m.values();
  EXPECT_EQ(names_of(v), (std::vector<std::string>{"mean_deg", "median_deg", "within_11_25", "within_22_5", "within_30",
                                                   "one_minus_abs_cos"}));
  EXPECT_EQ(directions_of(v), (std::vector<bool>{false, false, true, true, true, false}));
  EXPECT_NEAR(value_of(v, "mean_deg"), 63.0, 1e-9);
  // Alone in its bin, the median is placed at the bin's centre: within half a bin of 25.
  EXPECT_NEAR(value_of(v, "median_deg"), 25.0, 0.5 * NormalMetric::kBinDeg + 1e-9);
  EXPECT_NEAR(value_of(v, "within_11_25"), 1.0 / 5, kTol);
  EXPECT_NEAR(value_of(v, "within_22_5"), 2.0 / 5, kTol);
  EXPECT_NEAR(value_of(v, "within_30"), 3.0 / 5, kTol);
  const double c20 = std::cos(20 * kPi / 180), c25 = std::cos(25 * kPi / 180);
  EXPECT_NEAR(value_of(v, "one_minus_abs_cos"), ((1 - c20) + (1 - c25) + 1) / 5, kTol);
  EXPECT_EQ(m.accumulators()[2], 5.0);  // valid pixels
}

TEST(NormalMetric, LowResolutionPredictionIsUpsampledThenNormalised) {
  // pred (1, 3, 1, 2): (1, 0, 0) and (0, 0, 1), to width 4: [v0, 0.75 v0 + 0.25 v1, 0.25 v0 + 0.75 v1, v1]
  //   = (1, 0, 0), (0.75, 0, 0.25), (0.25, 0, 0.75), (0, 0, 1); target (1, 0, 0) everywhere.
  // Angles after normalising: 0, atan(0.25 / 0.75) = atan(1/3), atan(3), 90; atan(1/3) + atan(3) = 90, so
  // mean = 180 / 4 = 45 and median = (atan(1/3) + atan(3)) / 2 = 45 (even count: the mean of the middle two).
  // Without the normalisation, pixel 1 would read acos(0.75) = 41.4 degrees instead of 18.4.
  const Tensor pred = normal_row({{1, 0, 0}, {0, 0, 1}});
  NormalMetric m;
  m.add(pred, normal_row({{1, 0, 0}, {1, 0, 0}, {1, 0, 0}, {1, 0, 0}}));
  EXPECT_NEAR(value_of(m.values(), "mean_deg"), 45.0, 1e-9);
  EXPECT_NEAR(value_of(m.values(), "median_deg"), 45.0, NormalMetric::kBinDeg);
  EXPECT_NEAR(value_of(m.values(), "within_22_5"), 2.0 / 4, kTol);    // 0 and 18.43
  const std::vector<double> up = normals_at(pred, 1, 4).to_vector();  // (1, 3, 1, 4): x of pixel 1 at [1]
  const double n1 = std::sqrt(0.75 * 0.75 + 0.25 * 0.25);
  EXPECT_NEAR(up[1], 0.75 / n1, kTol);
  EXPECT_NEAR(up[8 + 1], 0.25 / n1, kTol);
  // A zero vector stays zero (divided by max(0, 1e-12)).
  EXPECT_EQ(normals_at(normal_row({{0, 0, 0}}), 1, 1).to_vector(), (std::vector<double>{0, 0, 0}));

  NormalMetric none;
  EXPECT_THROW(none.values(), Error);
  none.add(normal_row({{0, 0, 1}}), normal_row({{0, 0, 0}}));  // an all-invalid image
  EXPECT_THROW(none.values(), Error);
  EXPECT_THROW(none.add(f64({0, 1}, {1, 2, 1, 1}), normal_row({{0, 0, 1}})), Error);  // 2 channels
}

// The histogram median against the exact median of many angles: within one bin width, for odd and even
// counts (an off-by-one in the rank moves it by ~180 / n degrees, far more than a bin).
TEST(NormalMetric, HistogramMedianIsWithinOneBinOfTheExactMedian) {
  for (int n : {1001, 1000}) {
    Generator gen(7 + static_cast<std::uint64_t>(n));
    std::vector<std::array<double, 3>> pred, target;
    std::vector<double> exact;
    for (int i = 0; i < n; ++i) {
      const double deg = 180 * gen.uniform() * gen.uniform();  // skewed toward small angles, as real errors
      pred.push_back(at_angle(deg));
      target.push_back({0, 0, 1});
      exact.push_back(std::acos(std::clamp(std::cos(deg * kPi / 180), -1.0, 1.0)) * 180 / kPi);
    }
    std::sort(exact.begin(), exact.end());
    const double median = n % 2 ? exact[n / 2] : 0.5 * (exact[n / 2 - 1] + exact[n / 2]);
    NormalMetric m;
    m.add(normal_row(pred), normal_row(target));
    EXPECT_NEAR(value_of(m.values(), "median_deg"), median, NormalMetric::kBinDeg) << n << " angles";
  }
}

// ---- keypoints ------------------------------------------------------------------------------------------

// A (1, K, H, W) heatmap stack: zero except each keypoint's (row, col) set to its peak.
Tensor heatmaps(std::int64_t H, std::int64_t W, const std::vector<std::array<double, 3>>& peaks) {
  const auto K = static_cast<std::int64_t>(peaks.size());
  std::vector<double> v(static_cast<std::size_t>(K * H * W), 0.0);
  for (std::int64_t k = 0; k < K; ++k) {
    const auto& [row, col, peak] = peaks[static_cast<std::size_t>(k)];
    v[static_cast<std::size_t>(k * H * W + static_cast<std::int64_t>(row) * W + static_cast<std::int64_t>(col))] = peak;
  }
  return f64(v, {1, K, H, W});
}

TEST(KeypointMetric, ErrorsByHand) {
  KeypointMetric m;
  // 4 x 4 target: diagonal sqrt(16 + 16) = 4 sqrt(2).
  //   k0: target peak 1.0 at (1, 2), pred peak at (1, 2): e = 0
  //   k1: target peak 0.9 at (0, 0), pred peak at (3, 3): distance 3 sqrt(2): e = 100 * 3/4 = 75
  //   k2: target peak 0.4 <= 0.5: absent, whatever the prediction
  // error_pct = (0 + 75) / 2 = 37.5; pck_5 = 1 / 2.
  m.add(heatmaps(4, 4, {{1, 2, 3.0}, {3, 3, 0.2}, {0, 0, 1.0}}),
        heatmaps(4, 4, {{1, 2, 1.0}, {0, 0, 0.9}, {2, 2, 0.4}}));
  const auto v = m.values();
  EXPECT_EQ(names_of(v), (std::vector<std::string>{"error_pct", "pck_5"}));
  EXPECT_EQ(directions_of(v), (std::vector<bool>{false, true}));
  EXPECT_NEAR(value_of(v, "error_pct"), 37.5, kTol);
  EXPECT_NEAR(value_of(v, "pck_5"), 0.5, kTol);
  EXPECT_EQ(m.accumulators()[2], 2.0);  // present keypoints
}

TEST(KeypointMetric, LowResolutionArgmaxIsMappedByPixelCentres) {
  // pred 2 x 2, peak at (y, x) = (1, 0) -> target 8 x 8 coordinates (scale 4): Y = (1 + 0.5) * 4 - 0.5 = 5.5,
  // X = (0 + 0.5) * 4 - 0.5 = 1.5. Target peak at (5, 3): dy = 0.5, dx = -1.5, distance sqrt(2.5); diagonal
  // sqrt(128): e = 100 sqrt(2.5 / 128) = 100 sqrt(5) / 16 = 6.25 sqrt(5) = 13.98 (a corner mapping
  // Y = y H / h = 4, X = 0 would give 100 sqrt(10 / 128) = 27.95).
  KeypointMetric m;
  m.add(heatmaps(2, 2, {{1, 0, 1.0}}), heatmaps(8, 8, {{5, 3, 0.8}}));
  EXPECT_NEAR(value_of(m.values(), "error_pct"), 6.25 * std::sqrt(5.0), kTol);
  EXPECT_EQ(value_of(m.values(), "pck_5"), 0.0);

  KeypointMetric none;
  EXPECT_THROW(none.values(), Error);
  none.add(heatmaps(2, 2, {{1, 0, 1.0}}), heatmaps(4, 4, {{2, 1, 0.5}}));  // a peak of 0.5 is not > 0.5
  EXPECT_THROW(none.values(), Error);
  EXPECT_THROW(none.add(heatmaps(2, 2, {{1, 0, 1.0}}), heatmaps(4, 4, {{2, 1, 0.8}, {0, 0, 1}})), Error);  // K
}

// ---- accumulation over batches and across shards ----------------------------------------------------------

struct MetricCase {
  std::string label;
  std::function<std::shared_ptr<Metric>()> make;
  Tensor pred, target;  // a set of N = 5 samples
};

std::vector<MetricCase> cases() {
  Generator gen(42);
  std::vector<MetricCase> out;
  const auto uniform = [&](const Shape& s, double lo, double hi) {
    return Tensor::uniform(s, gen, lo, hi, DType::Float64);
  };
  {  // segmentation: logits at half resolution, ignored pixels, class 4 never a target
    std::vector<std::int64_t> t(5 * 6 * 8);
    for (auto& l : t) l = gen.uniform() < 0.15 ? -1 : static_cast<std::int64_t>(gen.uniform() * 4);
    out.push_back({"segmentation", [] { return std::make_shared<SegmentationMetric>(5); }, uniform({5, 5, 3, 4}, -1, 1),
                   labels(t, {5, 6, 8})});
  }
  {  // depth: half resolution; about a third of the pixels invalid, sample 2 entirely
    std::vector<double> t = uniform({5, 1, 6, 8}, -1, 4).to_vector();
    for (std::size_t i = 2 * 48; i < 3 * 48; ++i) t[i] = 0;
    out.push_back(
        {"depth", [] { return std::make_shared<DepthMetric>(); }, uniform({5, 1, 3, 4}, 0, 4), f64(t, {5, 1, 6, 8})});
  }
  {  // normals: half resolution; some all-zero target pixels
    std::vector<double> t = uniform({5, 3, 6, 8}, -1, 1).to_vector();
    for (std::int64_t n = 0; n < 5; ++n)
      for (std::int64_t i = 0; i < 48; i += 5)
        for (std::int64_t k = 0; k < 3; ++k) t[static_cast<std::size_t>((n * 3 + k) * 48 + i)] = 0;
    out.push_back({"normals", [] { return std::make_shared<NormalMetric>(); }, uniform({5, 3, 3, 4}, -1, 1),
                   f64(t, {5, 3, 6, 8})});
  }
  {  // keypoints: 3 per sample, half resolution; every other heatmap scaled below 0.5: absent
    std::vector<double> t = uniform({5, 3, 6, 8}, 0, 1).to_vector();
    for (std::size_t i = 0; i < t.size(); ++i) t[i] *= (i / 48) % 2 ? 0.49 : 1.0;
    out.push_back({"keypoints", [] { return std::make_shared<KeypointMetric>(); }, uniform({5, 3, 3, 4}, 0, 1),
                   f64(t, {5, 3, 6, 8})});
  }
  out.push_back(
      {"mse", [] { return std::make_shared<MseMetric>(); }, uniform({5, 2, 3}, -1, 1), uniform({5, 2, 3}, -1, 1)});
  return out;
}

// Counts are integers (exact in double); sums agree to rounding.
void expect_same_values(const std::vector<MetricValue>& a, const std::vector<MetricValue>& b, const std::string& what) {
  ASSERT_EQ(names_of(a), names_of(b)) << what;
  for (std::size_t k = 0; k < a.size(); ++k)
    EXPECT_NEAR(a[k].value, b[k].value, kTol * std::max(1.0, std::abs(b[k].value))) << what << ": " << a[k].name;
}

TEST(DenseMetrics, AccumulatingOverBatchesEqualsOnePassOverTheSet) {
  for (const MetricCase& c : cases()) {
    const auto whole = c.make(), batched = c.make();
    whole->add(c.pred, c.target);
    batched->add(c.pred.slice(0, 2), c.target.slice(0, 2));  // uneven batches: 2, 1, 2
    batched->add(c.pred.slice(2, 3), c.target.slice(2, 3));
    batched->add(c.pred.slice(3, 5), c.target.slice(3, 5));
    expect_same_values(batched->values(), whole->values(), c.label);
    const auto a = batched->accumulators(), w = whole->accumulators();
    ASSERT_EQ(a.size(), w.size()) << c.label;
    for (std::size_t k = 0; k < a.size(); ++k)
      EXPECT_NEAR(a[k], w[k], kTol * std::max(1.0, std::abs(w[k]))) << c.label << " accumulator " << k;
    if (c.label == "segmentation" || c.label == "normals") {  // counts only (normals: from index 2 on)
      for (std::size_t k = c.label == "normals" ? 2 : 0; k < a.size(); ++k) {
        EXPECT_EQ(a[k], w[k]) << c.label << " count " << k;
      }
    }
    // reset() forgets everything: the same set again gives the same values.
    batched->reset();
    EXPECT_THROW(batched->values(), Error) << c.label;
    batched->add(c.pred, c.target);
    EXPECT_EQ(batched->accumulators(), w) << c.label;
  }
}

// The accumulators contract: two shards, each from reset(), their accumulators summed and set on a third
// metric, give the values of one pass over the whole set.
TEST(DenseMetrics, ShardAccumulatorsAddUpToTheWholeSet) {
  for (const MetricCase& c : cases()) {
    const auto whole = c.make(), first = c.make(), second = c.make(), merged = c.make();
    whole->add(c.pred, c.target);
    first->add(c.pred.slice(0, 3), c.target.slice(0, 3));
    second->add(c.pred.slice(3, 5), c.target.slice(3, 5));
    std::vector<double> sum = first->accumulators();
    const std::vector<double> b = second->accumulators();
    ASSERT_EQ(sum.size(), b.size()) << c.label;
    for (std::size_t k = 0; k < sum.size(); ++k) sum[k] += b[k];
    merged->set_accumulators(sum);
    EXPECT_EQ(merged->accumulators(), sum) << c.label;
    expect_same_values(merged->values(), whole->values(), c.label);
    // A shard alone is not the whole set (the test data are not degenerate).
    EXPECT_NE(first->values()[0].value, whole->values()[0].value) << c.label;
    sum.push_back(0);
    EXPECT_THROW(merged->set_accumulators(sum), Error) << c.label << ": wrong length";
  }
}

// ---- Delta_m --------------------------------------------------------------------------------------------

TEST(DeltaM, ByHand) {
  const std::vector<MetricValue> baseline{{"rmse", 2.0, false}, {"miou", 0.4, true}};
  // Better: rmse 1.5: (+1) (2 - 1.5) / 2 = 0.25; miou 0.6: (-1) (0.4 - 0.6) / 0.4 = 0.5 -> 100 * 0.75 / 2 = 37.5.
  // Listed in another order: matched by name.
  EXPECT_NEAR(delta_m(baseline, {{"miou", 0.6, true}, {"rmse", 1.5, false}}), 37.5, 1e-12);
  // Worse: rmse 3: (2 - 3) / 2 = -0.5; miou 0.3: -(0.4 - 0.3) / 0.4 = -0.25 -> 100 * -0.75 / 2 = -37.5.
  EXPECT_NEAR(delta_m(baseline, {{"rmse", 3.0, false}, {"miou", 0.3, true}}), -37.5, 1e-12);
  // Mixed: rmse 1.5 (+0.25), miou 0.3 (-0.25): 0.
  EXPECT_NEAR(delta_m(baseline, {{"rmse", 1.5, false}, {"miou", 0.3, true}}), 0.0, 1e-12);
  EXPECT_EQ(delta_m(baseline, baseline), 0.0);
}

TEST(DeltaM, RefusesWhatItCannotCompare) {
  const std::vector<MetricValue> baseline{{"rmse", 2.0, false}, {"miou", 0.4, true}};
  EXPECT_THROW(delta_m(baseline, {{"abs_err", 1.0, false}, {"miou", 0.5, true}}), Error);  // names differ
  EXPECT_THROW(delta_m(baseline, {{"miou", 0.5, true}}), Error);                           // one missing
  EXPECT_THROW(delta_m(baseline, {{"rmse", 1, false}, {"rmse", 1, false}}), Error);        // duplicated
  EXPECT_THROW(delta_m(baseline, {{"rmse", 1.0, true}, {"miou", 0.5, true}}), Error);      // direction
  EXPECT_THROW(delta_m({{"rmse", 0.0, false}}, {{"rmse", 1.0, false}}), Error);            // zero baseline
  EXPECT_THROW(delta_m({{"rmse", 1.0, false}}, {{"rmse", NAN, false}}), Error);            // NaN result
  EXPECT_THROW(delta_m({}, {}), Error);
}

}  // namespace
}  // namespace gn::multitask
