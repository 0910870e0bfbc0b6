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

TaskLoss TaskLoss::keypoints() {
  return {"heatmap_mse",
          [](const Tensor& pred, const Tensor& heatmaps) {
            GN_CHECK(pred.shape() == heatmaps.shape(),
                     "heatmap_mse: heatmaps {} differ from the prediction {}; keypoint heatmaps are not resized, "
                     "render them at the prediction's resolution",
                     to_string(heatmaps.shape()), to_string(pred.shape()));
            return mse_loss(pred, heatmaps);
          },
          true,
          {},
          {}};
}

}  // namespace gn::multitask
