#pragma once
// Learning-rate schedules. A schedule owns no parameters: it rewrites its optimizer's lr.
#include <cstdint>

#include "nn/optimizer.h"

namespace gn::nn {

// StepLR: multiplies the learning rate by gamma every step_size training steps (the GradNorm paper decays
// its learning rate by 0.2 every N steps, hence the default gamma). Call step() once per training step,
// after the optimizer's step(). After t calls:
//   lr = base_lr * gamma^floor(t / step_size),  base_lr = the optimizer's lr when the schedule was built.
// So with step_size 3 the training steps 0, 1, 2 use base_lr and steps 3, 4, 5 use base_lr * gamma.
// The lr is computed from base_lr each time (no drift from repeated multiplication) and overwrites any
// set_lr made in between. The optimizer must outlive the schedule.
class StepLR {
 public:
  // step_size > 0, gamma > 0.
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.2);

  void step();
  double lr() const { return optimizer_.lr(); }
  double base_lr() const { return base_lr_; }
  std::int64_t last_step() const { return t_; }  // calls to step() so far

  // "t" (int64) and "base_lr" (float64), 0-d on the CPU; step_size and gamma are construction arguments.
  // Loading checks both entries before setting either and leaves the optimizer's lr alone: the optimizer's
  // own state restores it, and the next step() recomputes it from the loaded base_lr anyway.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  Optimizer& optimizer_;
  std::int64_t step_size_;
  double gamma_;
  double base_lr_;
  std::int64_t t_ = 0;
};

}  // namespace gn::nn
