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

StateDict StepLR::state_dict() const { return {{"t", state_count(t_)}, {"base_lr", state_scalar(base_lr_)}}; }

void StepLR::load_state_dict(const StateDict& state) {
  const StateMatch match = match_state(state, state_dict(), "StepLR");
  const std::int64_t t = read_count(match.sources[0]);
  const double base_lr = read_scalar(match.sources[1]);
  GN_CHECK(t >= 0, "StepLR: load_state_dict: nothing loaded: entry 't' is {}, must be >= 0", t);
  GN_CHECK(std::isfinite(base_lr) && base_lr >= 0,
           "StepLR: load_state_dict: nothing loaded: entry 'base_lr' is {}, must be >= 0", base_lr);
  t_ = t;
  base_lr_ = base_lr;
}

}  // namespace gn::nn
