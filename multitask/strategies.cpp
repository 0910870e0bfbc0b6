#include "multitask/strategies.h"

#include <fmt/ranges.h>

namespace gn::multitask {

const std::vector<std::string>& weighting_names() {
  static const std::vector<std::string> names{"equal", "static", "gradnorm", "uncertainty", "gradnorm-static"};
  return names;
}

std::unique_ptr<LossWeighting> make_weighting(const std::string& name, int num_tasks, const WeightingConfig& config) {
  if (name == "equal") return std::make_unique<EqualWeighting>(num_tasks);
  if (name == "gradnorm") return std::make_unique<GradNormWeighting>(num_tasks, config.gradnorm);
  if (name == "uncertainty") return std::make_unique<UncertaintyWeighting>(num_tasks, config.uncertainty_lr);
  if (name == "static" || name == "gradnorm-static") {
    GN_CHECK(static_cast<int>(config.static_weights.size()) == num_tasks, "{}: needs {} weights, got {}", name,
             num_tasks, config.static_weights.size());
    return std::make_unique<StaticWeighting>(config.static_weights, name);
  }
  GN_FAIL("unknown weighting method '{}': expected one of {}", name, fmt::join(weighting_names(), ", "));
}

}  // namespace gn::multitask
