#include "multitask/delta_m.h"

#include <cmath>
#include <set>

#include "core/error.h"

namespace gn::multitask {

double delta_m(const std::vector<MetricValue>& baseline, const std::vector<MetricValue>& result) {
  GN_CHECK(!baseline.empty(), "delta_m: the baseline has no metric");
  GN_CHECK(baseline.size() == result.size(), "delta_m: the baseline has {} metrics, the result {}", baseline.size(),
           result.size());
  std::set<std::string> seen;
  double sum = 0;
  for (const MetricValue& b : baseline) {
    GN_CHECK(seen.insert(b.name).second, "delta_m: the baseline lists metric '{}' twice", b.name);
    const MetricValue* n = nullptr;
    for (const MetricValue& r : result)
      if (r.name == b.name) {
        GN_CHECK(n == nullptr, "delta_m: the result lists metric '{}' twice", b.name);
        n = &r;
      }
    GN_CHECK(n != nullptr, "delta_m: the result has no metric '{}' of the baseline", b.name);
    GN_CHECK(n->higher_is_better == b.higher_is_better,
             "delta_m: metric '{}' is higher-is-better in the {} but not in the {}", b.name,
             b.higher_is_better ? "baseline" : "result", b.higher_is_better ? "result" : "baseline");
    GN_CHECK(std::isfinite(b.value) && b.value != 0,
             "delta_m: the baseline's '{}' is {}: a relative change needs a "
             "finite, non-zero baseline",
             b.name, b.value);
    GN_CHECK(std::isfinite(n->value), "delta_m: the result's '{}' is {}", b.name, n->value);
    const double sign = b.higher_is_better ? -1.0 : 1.0;  // (-1)^{higher_is_better}
    sum += sign * (b.value - n->value) / b.value;
  }
  return 100.0 * sum / static_cast<double>(baseline.size());
}

}  // namespace gn::multitask
