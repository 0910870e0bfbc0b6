#pragma once
// A multitask network: a shared trunk, whose last layer W is the layer GradNorm balances at, and T tasks.
//
//   x --trunk_below--> h --W (shared)--> z ==cut==> head_i --> prediction_i,  i = 1..T
//
// z is the shared representation, of any shape (B, D) or (B, C, H, W): the step cuts the graph there,
// backpropagates each head to z alone and runs the trunk backward once (see step.h). W is any
// nn::SharedLayer (a Linear, a convolution), which gives the T per-task gradients of its parameters in
// one call.
#include <memory>
#include <vector>

#include "multitask/task.h"
#include "nn/module.h"
#include "nn/shared_layer.h"

namespace gn::multitask {

class MultitaskModel : public nn::Module {
 public:
  MultitaskModel(std::shared_ptr<nn::Module> trunk_below, std::shared_ptr<nn::SharedLayer> shared,
                 std::vector<Task> tasks);
  // T MSE tasks named task0, task1, ... with the given heads.
  MultitaskModel(std::shared_ptr<nn::Module> trunk_below, std::shared_ptr<nn::SharedLayer> shared,
                 std::vector<std::shared_ptr<nn::Module>> heads);

  int num_tasks() const { return static_cast<int>(tasks_.size()); }
  nn::Module& trunk_below() { return *trunk_below_; }
  nn::SharedLayer& shared() { return *shared_; }  // W, the last shared layer
  nn::Module& head(int i) { return *task(i).head; }
  const Task& task(int i) const { return tasks_.at(static_cast<std::size_t>(i)); }
  const std::vector<Task>& tasks() const { return tasks_; }
  // True when every task's loss is plain MSE (the step's fused-kernel fast path).
  bool all_mse() const;

  // Plain forward (evaluation): the T predictions.
  std::vector<Tensor> forward_all(const Tensor& x);
  // nn::Module's single-output forward: the shared representation z.
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<nn::Module> trunk_below_;
  std::shared_ptr<nn::SharedLayer> shared_;
  std::vector<Task> tasks_;
};

}  // namespace gn::multitask
