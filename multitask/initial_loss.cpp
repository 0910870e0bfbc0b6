#include "multitask/initial_loss.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace gn::multitask {

InitialLoss InitialLoss::mean_of_first(int steps) {
  GN_CHECK(steps >= 1, "initial loss: mean-of-first needs K >= 1, got {}", steps);
  InitialLoss l;
  l.mode_ = Mode::MeanOfFirst;
  l.steps_ = steps;
  return l;
}

InitialLoss InitialLoss::given(std::vector<double> values) {
  for (double v : values) GN_CHECK(std::isfinite(v) && v > 0, "initial loss: given value {} must be finite and > 0", v);
  InitialLoss l;
  l.mode_ = Mode::Given;
  l.value_ = std::move(values);
  return l;
}

InitialLoss InitialLoss::parse(const std::string& spec) {
  if (spec == "first-step") return first_step();
  try {
    if (spec.starts_with("mean-of-first:")) {
      std::size_t used = 0;
      const std::string k = spec.substr(14);
      const int steps = std::stoi(k, &used);
      GN_CHECK(used == k.size(), "bad initial-loss '{}'", spec);
      return mean_of_first(steps);
    }
    if (spec.starts_with("given:")) {
      std::vector<double> values;
      const std::string list = spec.substr(6);
      // getline yields no item for an empty list nor for a trailing comma: refuse both here.
      GN_CHECK(!list.empty() && list.back() != ',', "bad initial-loss '{}': an empty value in given:v1,v2,...", spec);
      std::stringstream ss(list);
      for (std::string item; std::getline(ss, item, ',');) {
        std::size_t used = 0;
        values.push_back(std::stod(item, &used));
        GN_CHECK(used == item.size(), "bad initial-loss '{}': '{}' is not a number", spec, item);
      }
      return given(std::move(values));
    }
  } catch (const std::logic_error&) {
  }
  GN_FAIL("bad initial-loss '{}': expected first-step, mean-of-first:K or given:v1,v2,...", spec);
}

std::string InitialLoss::describe() const {
  switch (mode_) {
    case Mode::FirstStep:
      return "first-step";
    case Mode::MeanOfFirst:
      return "mean-of-first:" + std::to_string(steps_);
    case Mode::Given:
      return "given";
  }
  return "?";
}

}  // namespace gn::multitask
