#pragma once
// Shared by the state_dict tests: a module with buffers, a small regression problem, a training step, and
// bitwise comparison of state dicts.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/optimizer.h"
#include "nn/sequential.h"
#include "nn/state_dict.h"

namespace gn::nn::testing {

// Centres its input with a running mean, like the statistics half of batch norm: in training mode it uses
// the batch mean and folds it into the "running_mean" buffer (and counts batches); in eval mode it uses the
// running mean and changes nothing. A learnable per-feature "scale" makes it trainable.
class RunningCenter : public Module {
 public:
  RunningCenter(std::int64_t features, Generator& gen) {
    scale = register_parameter("scale", Tensor::uniform({features}, gen, 0.5, 1.5));
    running_mean = register_buffer("running_mean", Tensor::zeros({1, features}));
    batches = register_buffer("batches", Tensor::zeros({}, DType::Int64));
  }
  Tensor forward(const Tensor& x) override {
    if (!is_training()) return (x - running_mean) * scale;
    const Tensor m = mean(x.detach(), 0, /*keepdim=*/true);
    scale_(running_mean, 0.9);
    axpy_(running_mean, 0.1, m);
    *batches.data<std::int64_t>() += 1;
    return (x - m) * scale;
  }

  Tensor scale, running_mean, batches;
};

// Sequential(Linear(3, 4), Tanh, RunningCenter(4), Linear(4, 2)) inside a parent with its own buffer.
class Nested : public Module {
 public:
  explicit Nested(Generator& gen) {
    auto in = std::make_shared<Linear>(3, 4, gen);
    auto center = std::make_shared<RunningCenter>(4, gen);
    auto out = std::make_shared<Linear>(4, 2, gen);
    body = register_module("body", std::make_shared<Sequential>(in, std::make_shared<Tanh>(), center, out));
    offset = register_buffer("offset", Tensor::uniform({2}, gen, -1, 1, DType::Float64));
  }
  Tensor forward(const Tensor& x) override { return body->forward(x); }

  std::shared_ptr<Sequential> body;
  Tensor offset;
};

// One training step: loss = mean(f(x)^2), backward, opt.step().
inline void train_step(Module& m, Optimizer& opt, const Tensor& x) {
  opt.zero_grad();
  const Tensor y = m(x);
  backward(mean(y * y));
  opt.step();
}

// Names equal, and every value, dtype and shape equal bit for bit (float32 -> double is exact).
inline void expect_same_state(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype()) << a[i].first;
    EXPECT_EQ(a[i].second.shape(), b[i].second.shape()) << a[i].first;
    EXPECT_EQ(a[i].second.to_vector(), b[i].second.to_vector()) << a[i].first;
  }
}

inline bool same_state(const StateDict& a, const StateDict& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const Tensor &x = a[i].second, &y = b[i].second;
    if (a[i].first != b[i].first || x.dtype() != y.dtype() || x.shape() != y.shape() || x.to_vector() != y.to_vector())
      return false;
  }
  return true;
}

inline std::vector<std::string> names_of(const StateDict& s) {
  std::vector<std::string> out;
  for (const auto& [name, t] : s) out.push_back(name);
  return out;
}

}  // namespace gn::nn::testing
