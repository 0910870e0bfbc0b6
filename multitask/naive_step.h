#pragma once
// The naive multitask step, kept as the test oracle for step.h: T separate full forward/backward passes
// through each task's own autograd loss, every per-task gradient of every parameter materialised, g_i
// read off the materialised gradients of W's parameters, and the network gradient formed as
// sum_i w_i grad(L_i). Slow on purpose; never used for training.
#include <span>

#include "multitask/model.h"
#include "multitask/step.h"
#include "multitask/weighting.h"
#include "nn/optimizer.h"

namespace gn::multitask {

// Same contract as MultitaskStep::step (stats always read), for any task losses and any shared layer.
StepStats naive_step(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer, const Tensor& x,
                     std::span<const Tensor> targets, std::int64_t step_index);

}  // namespace gn::multitask
