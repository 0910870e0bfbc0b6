#include "multitask/model.h"

#include <algorithm>
#include <string>

namespace gn::multitask {

namespace {
std::vector<Task> mse_tasks(std::vector<std::shared_ptr<nn::Module>> heads) {
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < heads.size(); ++i)
    tasks.push_back({"task" + std::to_string(i), std::move(heads[i]), TaskLoss::mse(), {}});
  return tasks;
}
}  // namespace

MultitaskModel::MultitaskModel(std::shared_ptr<nn::Module> trunk_below, std::shared_ptr<nn::SharedLayer> shared,
                               std::vector<Task> tasks)
    : trunk_below_(register_module("trunk", std::move(trunk_below))),
      shared_(register_module("shared", std::move(shared))),
      tasks_(std::move(tasks)) {
  GN_CHECK(!tasks_.empty(), "MultitaskModel: needs at least one task");
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    const Task& t = tasks_[i];
    GN_CHECK(t.head != nullptr, "MultitaskModel: task {} ('{}') has no head", i, t.name);
    GN_CHECK(static_cast<bool>(t.loss.fn), "MultitaskModel: task {} ('{}') has no loss", i, t.name);
    for (std::size_t j = 0; j < i; ++j)
      GN_CHECK(tasks_[j].name != t.name, "MultitaskModel: two tasks are named '{}'", t.name);
    register_module("head" + std::to_string(i), t.head);
  }
}

MultitaskModel::MultitaskModel(std::shared_ptr<nn::Module> trunk_below, std::shared_ptr<nn::SharedLayer> shared,
                               std::vector<std::shared_ptr<nn::Module>> heads)
    : MultitaskModel(std::move(trunk_below), std::move(shared), mse_tasks(std::move(heads))) {}

bool MultitaskModel::all_mse() const {
  return std::all_of(tasks_.begin(), tasks_.end(), [](const Task& t) { return t.loss.fused_mse; });
}

Tensor MultitaskModel::forward(const Tensor& x) { return shared_->forward(trunk_below_->forward(x)); }

std::vector<Tensor> MultitaskModel::forward_all(const Tensor& x) {
  const Tensor z = forward(x);
  std::vector<Tensor> preds;
  for (auto& t : tasks_) preds.push_back(t.head->forward(z));
  return preds;
}

}  // namespace gn::multitask
