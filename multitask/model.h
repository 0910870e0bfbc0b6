#pragma once
// A multitask network: shared trunk, whose last layer W is the layer GradNorm balances at, and T heads.
//
//   x --trunk_below--> h --W (shared)--> z ==cut==> head_i --> prediction_i,  i = 1..T
//
// z is the shared representation: the step cuts the graph there, backpropagates each head to z alone
// and runs the trunk backward once (see step.h).
#include <memory>
#include <vector>

#include "nn/linear.h"
#include "nn/module.h"
#include "nn/sequential.h"

namespace gn::multitask {

class MultitaskModel : public nn::Module {
 public:
  MultitaskModel(std::shared_ptr<nn::Sequential> trunk_below, std::shared_ptr<nn::Linear> shared,
                 std::vector<std::shared_ptr<nn::Module>> heads);

  int num_tasks() const { return static_cast<int>(heads_.size()); }
  nn::Sequential& trunk_below() { return *trunk_below_; }
  nn::Linear& shared() { return *shared_; }  // W, the last shared layer
  nn::Module& head(int i) { return *heads_.at(static_cast<std::size_t>(i)); }

  // Plain forward (evaluation): the T predictions.
  std::vector<Tensor> forward_all(const Tensor& x);
  // nn::Module's single-output forward: the shared representation z.
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<nn::Sequential> trunk_below_;
  std::shared_ptr<nn::Linear> shared_;
  std::vector<std::shared_ptr<nn::Module>> heads_;
};

}  // namespace gn::multitask
