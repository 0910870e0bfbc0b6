#include "nn/lr_schedule.h"

#include <cmath>

namespace gn::nn {

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : optimizer_(optimizer), step_size_(step_size), gamma_(gamma), base_lr_(optimizer.lr()) {
  GN_CHECK(step_size > 0, "StepLR: step_size must be > 0, got {}", step_size);
  GN_CHECK(std::isfinite(gamma) && gamma > 0, "StepLR: gamma must be > 0, got {}", gamma);
}

void StepLR::step() {
  ++t_;
  optimizer_.set_lr(base_lr_ * std::pow(gamma_, static_cast<double>(t_ / step_size_)));
}

}  // namespace gn::nn
