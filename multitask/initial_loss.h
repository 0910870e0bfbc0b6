#pragma once
// L_i(0), the reference each loss ratio Ltilde_i = L_i(t) / L_i(0) is measured against.
//   first-step (default): the losses of the first training step, recorded once and never overwritten
//   mean-of-first:K      the mean of the first K steps' losses; until K steps are seen, the running mean
//   given:v1,v2,...      fixed values, e.g. log(C) for C-class cross-entropy (paper, footnote 2)
#include <string>
#include <vector>
// The rule is applied by the GradNorm update kernel (kernels/gradnorm_update_state.h), on the device.

namespace gn::multitask {

class InitialLoss {
 public:
  enum class Mode { FirstStep, MeanOfFirst, Given };
  InitialLoss() = default;  // first-step
  static InitialLoss first_step() { return {}; }
  static InitialLoss mean_of_first(int steps);
  static InitialLoss given(std::vector<double> values);
  // Parses "first-step", "mean-of-first:K" or "given:v1,v2,..."; throws naming the bad text.
  static InitialLoss parse(const std::string& spec);

  Mode mode() const { return mode_; }
  int steps() const { return steps_; }                          // K of mean-of-first (1 for first-step)
  const std::vector<double>& values() const { return value_; }  // the given values
  std::string describe() const;

 private:
  Mode mode_ = Mode::FirstStep;
  int steps_ = 1;
  std::vector<double> value_;
};

}  // namespace gn::multitask
