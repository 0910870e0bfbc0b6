#pragma once
// Builds an optimizer by name, for command lines and configs. Every hyperparameter of both optimizers is an
// option, so each existing construction can be expressed exactly:
//   make_optimizer("sgd", params, {.lr = lr, .momentum = 0.9})  ==  SGD(params, lr, 0.9)
//   make_optimizer("sgd", params, {.lr = lr, .momentum = 0})    ==  SGD(params, lr)
//   make_optimizer("adam", params, {.lr = lr})                  ==  Adam(params, lr)
#include <memory>
#include <string>
#include <vector>

#include "nn/optimizer.h"

namespace gn::nn {

struct OptimizerOptions {
  double lr = 1e-3;
  double weight_decay = 0.0;  // both: L2 added to the gradient
  double momentum = 0.9;      // sgd; set 0 for plain SGD
  double beta1 = 0.9;         // adam
  double beta2 = 0.999;       // adam
  double eps = 1e-8;          // adam
};

// "adam" or "sgd" (exact, lower case); anything else throws a gn::Error listing the known names. The options
// are checked by the optimizer's constructor; those of the other optimizer are ignored.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Tensor> params,
                                          const OptimizerOptions& options = {});
// The names make_optimizer accepts, sorted: {"adam", "sgd"}.
const std::vector<std::string>& optimizer_names();

}  // namespace gn::nn
