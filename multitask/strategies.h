#pragma once
// Loss-weighting strategies by name: equal, static, gradnorm, uncertainty, gradnorm-static.
#include <memory>
#include <string>
#include <vector>

#include "multitask/gradnorm.h"
#include "multitask/uncertainty.h"
#include "multitask/weighting.h"

namespace gn::multitask {

struct WeightingConfig {
  GradNormOptions gradnorm;
  double uncertainty_lr = 0.025;
  std::vector<double> static_weights;  // for "static" and "gradnorm-static" (the latter: E_t[w_i(t)] of a run)
};

const std::vector<std::string>& weighting_names();
// Throws naming the unknown method and listing the known ones.
std::unique_ptr<LossWeighting> make_weighting(const std::string& name, int num_tasks, const WeightingConfig& config);

}  // namespace gn::multitask
