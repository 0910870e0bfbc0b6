#pragma once
// L_i(0), the reference each loss ratio Ltilde_i = L_i(t) / L_i(0) is measured against.
//   first-step (default): the losses of the first training step, recorded once and never overwritten
//   mean-of-first:K      the mean of the first K steps' losses; until K steps are seen, the running mean
//   given:v1,v2,...      fixed values, e.g. log(C) for C-class cross-entropy (paper, footnote 2)
#include <string>
#include <vector>

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

  // Feeds one step's losses; returns L_i(0) as known after it.
  const std::vector<double>& observe(const std::vector<double>& losses);
  Mode mode() const { return mode_; }
  std::string describe() const;

 private:
  Mode mode_ = Mode::FirstStep;
  int steps_ = 1;
  int seen_ = 0;
  std::vector<double> sum_, value_;
};

}  // namespace gn::multitask
