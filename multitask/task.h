#pragma once
// A task of a multitask model: {name, head, loss, metrics}. The head reads the shared representation z;
// the loss is any autograd loss (prediction, target) -> scalar; the metrics judge it at evaluation.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "multitask/metric.h"
#include "nn/module.h"

namespace gn::multitask {

// A task loss as an autograd op: (prediction, target) -> scalar.
using LossFn = std::function<Tensor(const Tensor& pred, const Tensor& target)>;

struct TaskLoss {
  std::string name;        // "mse", "cross_entropy", ...
  LossFn fn;               // the autograd loss (also what the naive oracle uses)
  bool fused_mse = false;  // plain MSE: when every task's is, the step computes all T losses and their
                           // gradients in one fused kernel instead of T autograd losses

  static TaskLoss mse();
  // logits (N, C, ...) against int64 labels (N, ...); positions labelled ignore_index do not count.
  static TaskLoss cross_entropy(std::int64_t ignore_index = -100);
  static TaskLoss custom(std::string name, LossFn fn);
};

struct Task {
  std::string name;
  std::shared_ptr<nn::Module> head;
  TaskLoss loss = TaskLoss::mse();
  std::vector<std::shared_ptr<Metric>> metrics;  // empty: the trainer reports the mean loss
};

}  // namespace gn::multitask
