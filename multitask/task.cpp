#include "multitask/task.h"

#include <cmath>

#include "core/ops.h"
#include "multitask/loss_count.h"

namespace gn::multitask {

TaskLoss TaskLoss::mse() {
  return {"mse", [](const Tensor& pred, const Tensor& target) { return mse_loss(pred, target); }, true, {}, {}};
}

TaskLoss TaskLoss::cross_entropy(std::int64_t ignore_index) {
  return {"cross_entropy",
          [ignore_index](const Tensor& logits, const Tensor& labels) {
            return gn::cross_entropy(logits, labels, ignore_index);
          },
          false,
          {},
          [ignore_index](const Tensor&, const Tensor& labels) { return count_not_ignored(labels, ignore_index); }};
}

TaskLoss TaskLoss::custom(std::string name, LossFn fn) {
  GN_CHECK(static_cast<bool>(fn), "task loss '{}': no function given", name);
  return {std::move(name), std::move(fn), false, {}, {}};
}

// ---- dense prediction: the resolution rule, then the loss ----

TaskLoss TaskLoss::depth_l2() {
  return {"depth_l2",
          [](const Tensor& pred, const Tensor& depth) { return masked_mse_loss(pred, match_resolution(depth, pred)); },
          false,
          {},
          [](const Tensor& pred, const Tensor& depth) { return count_positive(match_resolution(depth, pred)); }};
}

TaskLoss TaskLoss::depth_l1() {
  return {"depth_l1",
          [](const Tensor& pred, const Tensor& depth) { return masked_l1_loss(pred, match_resolution(depth, pred)); },
          false,
          {},
          [](const Tensor& pred, const Tensor& depth) { return count_positive(match_resolution(depth, pred)); }};
}

TaskLoss TaskLoss::segmentation(std::int64_t classes, std::int64_t ignore_index) {
  GN_CHECK(classes >= 2, "segmentation task loss: needs at least 2 classes, got {}", classes);
  return {"segmentation",
          [classes, ignore_index](const Tensor& logits, const Tensor& labels) {
            GN_CHECK(logits.dim() == 4 && logits.size(1) == classes,
                     "segmentation: logits {} should be (N, {}, H, W) for {} classes", to_string(logits.shape()),
                     classes, classes);
            return gn::cross_entropy(logits, match_resolution(labels, logits), ignore_index);
          },
          false, std::log(static_cast<double>(classes)),
          [ignore_index](const Tensor& logits, const Tensor& labels) {
            return count_not_ignored(match_resolution(labels, logits), ignore_index);
          }};
}

TaskLoss TaskLoss::normals() {
  return {
      "normals_cosine",
      [](const Tensor& pred, const Tensor& normals) {
        return normal_cosine_loss(pred, match_resolution(normals, pred));
      },
      false,
      {},
      [](const Tensor& pred, const Tensor& normals) { return count_nonzero_vectors(match_resolution(normals, pred)); }};
}

namespace {

// Heatmaps (N, K, H, W) -> (N, K, h, w) by the mean over each s x t block (H = s h, W = t w): unlike nearest
// resizing, an area mean keeps a peak's mass in the block that holds it, so the argmax lands where it was.
Tensor area_downsample(const Tensor& heatmaps, const Tensor& pred) {
  const std::int64_t N = heatmaps.size(0), K = heatmaps.size(1), H = heatmaps.size(2), W = heatmaps.size(3);
  const std::int64_t h = pred.size(2), w = pred.size(3);
  GN_CHECK(heatmaps.size(0) == pred.size(0) && heatmaps.size(1) == pred.size(1) && h > 0 && w > 0 && H % h == 0 &&
               W % w == 0,
           "heatmap_mse: heatmaps {} cannot be area-downsampled to the prediction {}: the batch and keypoint counts "
           "must agree and the heatmaps' height and width be whole multiples of the prediction's",
           to_string(heatmaps.shape()), to_string(pred.shape()));
  const Tensor blocks = heatmaps.reshape({N, K, h, H / h, w, W / w});
  return mean(mean(blocks, 5), 3);
}

}  // namespace

TaskLoss TaskLoss::keypoints() {
  return {"heatmap_mse",
          [](const Tensor& pred, const Tensor& heatmaps) {
            GN_CHECK(pred.dim() == 4 && heatmaps.dim() == 4,
                     "heatmap_mse: expects heatmaps (N, K, H, W) and a prediction (N, K, h, w), got {} and {}",
                     to_string(heatmaps.shape()), to_string(pred.shape()));
            if (pred.shape() == heatmaps.shape()) return mse_loss(pred, heatmaps);
            return mse_loss(pred, area_downsample(heatmaps, pred));
          },
          true,
          {},
          {}};
}

}  // namespace gn::multitask
