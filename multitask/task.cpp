#include "multitask/task.h"

#include "core/ops.h"

namespace gn::multitask {

TaskLoss TaskLoss::mse() {
  return {"mse", [](const Tensor& pred, const Tensor& target) { return mse_loss(pred, target); }, true};
}

TaskLoss TaskLoss::cross_entropy(std::int64_t ignore_index) {
  return {"cross_entropy",
          [ignore_index](const Tensor& logits, const Tensor& labels) {
            return gn::cross_entropy(logits, labels, ignore_index);
          },
          false};
}

TaskLoss TaskLoss::custom(std::string name, LossFn fn) {
  GN_CHECK(static_cast<bool>(fn), "task loss '{}': no function given", name);
  return {std::move(name), std::move(fn), false};
}

}  // namespace gn::multitask
