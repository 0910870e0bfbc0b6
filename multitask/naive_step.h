#pragma once
// The naive GradNorm step, kept as the test oracle for step.h: T separate full forward/backward passes,
// every per-task gradient of every parameter materialised, g_i read off the materialised W gradients,
// and the network gradient formed as sum_i w_i grad(L_i). Slow on purpose; never used for training.
#include <span>

#include "multitask/model.h"
#include "multitask/weighting.h"
#include "nn/optimizer.h"

namespace gn::multitask {

// Same contract as MultitaskStep::step with every task an MSE loss.
StepStats naive_step(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer, const Tensor& x,
                     std::span<const Tensor> targets, std::int64_t step_index);

}  // namespace gn::multitask
