#pragma once
// Steps a fast and a naive copy of the same model on the same batches and checks, every step, that
// losses, weights, norms and parameters agree to 1e-10 (float64): the fast multitask step against the
// naive oracle (T full backward passes, multitask/naive_step.h), for any model, loss and W.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "model_fixture.h"
#include "multitask/naive_step.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/sgd.h"

namespace gn::testing_support {

using ModelFn = std::function<std::shared_ptr<multitask::MultitaskModel>(std::uint64_t seed)>;
using BatchFn = std::function<TinyBatch(int step)>;

// GradNorm with SGD on the weights (lr 0.05) and the given alpha; static weights 0.5, 1, 1.5, ...;
// the network trained by SGD with momentum.
inline void expect_fast_equals_naive(const ModelFn& make_model, const BatchFn& make_batch, const std::string& method,
                                     int steps, double alpha = 1.5) {
  auto fast_model = make_model(9), naive_model = make_model(9);
  const int T = fast_model->num_tasks();
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = alpha;
  cfg.gradnorm.optimizer = "sgd";
  cfg.gradnorm.lr = 0.05;
  for (int i = 0; i < T; ++i) cfg.static_weights.push_back(0.5 * (i + 1));
  auto fast_w = multitask::make_weighting(method, T, cfg), naive_w = multitask::make_weighting(method, T, cfg);
  nn::SGD fast_opt(fast_model->parameters(), 0.05, 0.9), naive_opt(naive_model->parameters(), 0.05, 0.9);
  multitask::MultitaskStep stepper(*fast_model, *fast_w, fast_opt);
  for (int t = 0; t < steps; ++t) {
    const TinyBatch b = make_batch(t);
    const auto fast = stepper.step(b.x, b.y);
    const auto naive = multitask::naive_step(*naive_model, *naive_w, naive_opt, b.x, b.y, t);
    constexpr double kTol = 1e-10;
    for (std::size_t i = 0; i < naive.losses.size(); ++i) {
      EXPECT_NEAR(fast.losses[i], naive.losses[i], kTol * (1 + naive.losses[i])) << "step " << t << " task " << i;
      EXPECT_NEAR(fast.next_weights[i], naive.next_weights[i], kTol) << "step " << t << " task " << i;
    }
    ASSERT_EQ(fast.weighted_norms.size(), naive.weighted_norms.size());
    for (std::size_t i = 0; i < naive.weighted_norms.size(); ++i)
      EXPECT_NEAR(fast.weighted_norms[i], naive.weighted_norms[i], kTol * (1 + naive.weighted_norms[i]));
    EXPECT_LT(max_abs_diff(fast_model->parameters(), naive_model->parameters()), kTol) << "step " << t;
  }
}

}  // namespace gn::testing_support
