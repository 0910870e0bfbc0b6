#pragma once
// Small float64 multitask models and data for the step tests.
#include <memory>
#include <vector>

#include "core/rng.h"
#include "multitask/model.h"
#include "multitask/task.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/sequential.h"

namespace gn::testing_support {

struct TinyProblem {
  std::int64_t batch = 6, in = 7, hidden = 5, out = 3;
  int tasks = 3;
};

// Same seed -> identical initial networks, so two steppers can be compared step by step.
inline std::shared_ptr<multitask::MultitaskModel> tiny_model(const TinyProblem& p, std::uint64_t seed) {
  Generator gen(seed);
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(std::make_shared<nn::Linear>(p.in, p.hidden, gen, true, DType::Float64));
  trunk->push_back(std::make_shared<nn::Tanh>());
  auto shared = std::make_shared<nn::Linear>(p.hidden, p.hidden, gen, true, DType::Float64);
  std::vector<std::shared_ptr<nn::Module>> heads;
  for (int i = 0; i < p.tasks; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::ReLU>());
    head->push_back(std::make_shared<nn::Linear>(p.hidden, p.out, gen, true, DType::Float64));
    heads.push_back(head);
  }
  return std::make_shared<multitask::MultitaskModel>(trunk, shared, heads);
}

struct TinyBatch {
  Tensor x;
  std::vector<Tensor> y;
};

// Targets of very different scales (1, 10, 100, ...), like the paper's toy.
inline TinyBatch tiny_batch(const TinyProblem& p, std::uint64_t seed) {
  Generator gen(seed);
  TinyBatch b;
  b.x = Tensor::randn({p.batch, p.in}, gen, 0, 1, DType::Float64);
  double scale = 1;
  for (int i = 0; i < p.tasks; ++i, scale *= 10)
    b.y.push_back(Tensor::randn({p.batch, p.out}, gen, 0, scale, DType::Float64));
  return b;
}

// Mixed losses: task 0 MSE, task 1 a C-class cross-entropy (with ignored positions), task 2 MSE. Same
// seed -> identical initial networks.
struct MixedProblem {
  std::int64_t batch = 6, in = 7, hidden = 5, out = 3, classes = 4;
};

inline std::shared_ptr<multitask::MultitaskModel> mixed_model(const MixedProblem& p, std::uint64_t seed) {
  Generator gen(seed);
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(std::make_shared<nn::Linear>(p.in, p.hidden, gen, true, DType::Float64));
  trunk->push_back(std::make_shared<nn::Tanh>());
  auto shared = std::make_shared<nn::Linear>(p.hidden, p.hidden, gen, true, DType::Float64);
  std::vector<multitask::Task> tasks;
  const std::int64_t outs[] = {p.out, p.classes, p.out};
  const multitask::TaskLoss losses[] = {multitask::TaskLoss::mse(), multitask::TaskLoss::cross_entropy(-1),
                                        multitask::TaskLoss::mse()};
  const char* names[] = {"depth", "seg", "normal"};
  for (int i = 0; i < 3; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::ReLU>());
    head->push_back(std::make_shared<nn::Linear>(p.hidden, outs[i], gen, true, DType::Float64));
    tasks.push_back({names[i], head, losses[i], {}});
  }
  return std::make_shared<multitask::MultitaskModel>(trunk, shared, std::move(tasks));
}

// Labels in [0, C) with every third position ignored (-1).
inline TinyBatch mixed_batch(const MixedProblem& p, std::uint64_t seed) {
  Generator gen(seed);
  TinyBatch b;
  b.x = Tensor::randn({p.batch, p.in}, gen, 0, 1, DType::Float64);
  b.y.push_back(Tensor::randn({p.batch, p.out}, gen, 0, 1, DType::Float64));
  std::vector<std::int64_t> labels;
  for (std::int64_t n = 0; n < p.batch; ++n)
    labels.push_back(n % 3 == 2 ? -1 : static_cast<std::int64_t>(gen.next_u64() % p.classes));
  b.y.push_back(Tensor::from_labels(labels, {p.batch}));
  b.y.push_back(Tensor::randn({p.batch, p.out}, gen, 0, 30, DType::Float64));
  return b;
}

inline double max_abs_diff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto va = a[k].to_vector(), vb = b[k].to_vector();
    for (std::size_t j = 0; j < va.size(); ++j)
      worst = std::max(worst, std::abs(va[j] - vb[j]) / (1 + std::abs(vb[j])));
  }
  return worst;
}

}  // namespace gn::testing_support
