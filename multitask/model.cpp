#include "multitask/model.h"

#include <string>

namespace gn::multitask {

MultitaskModel::MultitaskModel(std::shared_ptr<nn::Sequential> trunk_below, std::shared_ptr<nn::Linear> shared,
                               std::vector<std::shared_ptr<nn::Module>> heads)
    : trunk_below_(register_module("trunk", std::move(trunk_below))),
      shared_(register_module("shared", std::move(shared))) {
  GN_CHECK(!heads.empty(), "MultitaskModel: needs at least one task head");
  for (std::size_t i = 0; i < heads.size(); ++i)
    heads_.push_back(register_module("head" + std::to_string(i), std::move(heads[i])));
}

Tensor MultitaskModel::forward(const Tensor& x) { return shared_->forward(trunk_below_->forward(x)); }

std::vector<Tensor> MultitaskModel::forward_all(const Tensor& x) {
  const Tensor z = forward(x);
  std::vector<Tensor> preds;
  for (auto& head : heads_) preds.push_back(head->forward(z));
  return preds;
}

}  // namespace gn::multitask
