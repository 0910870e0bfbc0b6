#pragma once
// A task of a multitask model: {name, head, loss, metrics}. The head reads the shared representation z;
// the loss is any autograd loss (prediction, target) -> scalar; the metrics judge it at evaluation.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "multitask/metric.h"
#include "nn/module.h"

namespace gn::multitask {

// A task loss as an autograd op: (prediction, target) -> scalar.
using LossFn = std::function<Tensor(const Tensor& pred, const Tensor& target)>;
// The number of terms a masked loss averages over for (prediction, target), as a host number.
using CountFn = std::function<double(const Tensor& pred, const Tensor& target)>;

struct TaskLoss {
  std::string name;        // "mse", "cross_entropy", "depth_l2", ...
  LossFn fn;               // the autograd loss (also what the naive oracle uses)
  bool fused_mse = false;  // plain MSE: when every task's is, the step computes all T losses and their
                           // gradients in one fused kernel instead of T autograd losses
  // The loss an untrained model is expected to start from, where theory gives one: log(C) for C-class
  // cross-entropy (uniform softmax). The paper's footnote 2 suggests it as L_i(0) instead of the first
  // step's loss; an app may build InitialLoss::given({...}) from it. Empty when there is no natural value.
  std::optional<double> natural_initial_loss;
  // Set for a mean over a data-dependent number of terms (a masked mean: valid depth pixels, labels that
  // are not ignored, non-zero normals): their count, by the loss's own rule (multitask/loss_count.h). The
  // data-parallel step weights rank r's loss by count_r / sum of counts so that N ranks compute the
  // global masked mean exactly (multitask/step.h, "Masked losses"); one process never calls it. Empty: a
  // mean over the same number of terms per row (MSE, heatmaps), whose rank share is B_r / B.
  CountFn count;

  static TaskLoss mse();
  // logits (N, C, ...) against int64 labels (N, ...); positions labelled ignore_index do not count.
  static TaskLoss cross_entropy(std::int64_t ignore_index = -100);
  static TaskLoss custom(std::string name, LossFn fn);

  // ---- dense prediction (NYUv2 style; docs/dense-tasks.md) ----
  // Each first applies the resolution rule (match_resolution, core/ops_dense_loss.h): a target whose last
  // two dims differ from the prediction's is resized to the prediction's resolution by nearest neighbour.
  // "depth_l2": masked_mse_loss; depth (N, 1, H, W), pixels with target > 0 count.
  static TaskLoss depth_l2();
  // "depth_l1": masked_l1_loss, the same mask.
  static TaskLoss depth_l1();
  // "segmentation": 2-D cross-entropy, logits (N, classes, h, w) against int64 labels (N, H, W), labels
  // equal to ignore_index do not count; natural_initial_loss = log(classes). classes >= 2.
  static TaskLoss segmentation(std::int64_t classes, std::int64_t ignore_index = -1);
  // "normals_cosine": normal_cosine_loss, (N, 3, H, W); all-zero target vectors do not count.
  static TaskLoss normals();
  // "heatmap_mse": plain pixel-wise MSE over K keypoint heatmaps (N, K, H, W). Heatmaps at a higher
  // resolution than the prediction (H and W whole multiples of h and w, as for a stride-4 network) are
  // area-downsampled (the mean of each block), not nearest-resized: nearest would move or drop a peak.
  // fused_mse stays on: the step uses its fused MSE kernel when every task's loss is MSE and every target has
  // its prediction's shape, and the per-task losses otherwise.
  static TaskLoss keypoints();
};

struct Task {
  std::string name;
  std::shared_ptr<nn::Module> head;
  TaskLoss loss = TaskLoss::mse();
  std::vector<std::shared_ptr<Metric>> metrics;  // empty: the trainer reports the mean loss
};

}  // namespace gn::multitask
