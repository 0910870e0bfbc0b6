#include "nn/optimizer_factory.h"

#include <fmt/ranges.h>

#include "nn/adam.h"
#include "nn/sgd.h"

namespace gn::nn {

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = {"adam", "sgd"};
  return names;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Tensor> params,
                                          const OptimizerOptions& o) {
  if (name == "adam") return std::make_unique<Adam>(std::move(params), o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
  if (name == "sgd") return std::make_unique<SGD>(std::move(params), o.lr, o.momentum, o.weight_decay);
  GN_FAIL("make_optimizer: unknown optimizer '{}'; known: {}", name, fmt::join(optimizer_names(), ", "));
}

}  // namespace gn::nn
