#include "multitask/weighting.h"

#include <cmath>

#include "core/error.h"

namespace gn::multitask {

LossWeighting::LossWeighting(int num_tasks) : w_(static_cast<std::size_t>(num_tasks), 1.0) {
  GN_CHECK(num_tasks >= 1, "loss weighting: needs at least one task, got {}", num_tasks);
}

void LossWeighting::to_device(Device device, DType dtype) {
  w_device_ = Tensor::from_vector(w_, {num_tasks()}, dtype, device);
}

void LossWeighting::read_device(StepStats* stats) {
  w_ = w_device_.to_vector();
  if (stats) stats->next_weights = w_;
}

EqualWeighting::EqualWeighting(int num_tasks) : LossWeighting(num_tasks) {}

StaticWeighting::StaticWeighting(std::vector<double> weights, std::string name)
    : LossWeighting(static_cast<int>(weights.size())), name_(std::move(name)) {
  for (std::size_t i = 0; i < weights.size(); ++i)
    GN_CHECK(std::isfinite(weights[i]) && weights[i] > 0, "{} weighting: weight {} is {}, must be finite and > 0",
             name_, i, weights[i]);
  w_ = std::move(weights);
}

}  // namespace gn::multitask
