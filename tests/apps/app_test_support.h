#pragma once
// Small models and datasets for the apps/common tests.
#include <cstdint>
#include <memory>
#include <vector>

#include "apps/common/batch_source.h"
#include "core/rng.h"
#include "multitask/model.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/sequential.h"

namespace gn::app::testing {

// x (N, 3) with x[k][j] = 10k + j, and per task i a (N, 2) target with t[k][j] = 1000 (i + 1) + 10k + j: every
// row says which sample it is, exactly (small integers in float32).
inline Dataset numbered_dataset(std::int64_t N, int tasks) {
  auto table = [N](std::int64_t width, double base) {
    std::vector<double> v;
    for (std::int64_t k = 0; k < N; ++k)
      for (std::int64_t j = 0; j < width; ++j)
        v.push_back(base + 10.0 * static_cast<double>(k) + static_cast<double>(j));
    return Tensor::from_vector(v, {N, width});
  };
  Dataset d{table(3, 0), {}};
  for (int i = 0; i < tasks; ++i) d.targets.push_back(table(2, 1000.0 * (i + 1)));
  return d;
}

// Which sample row r of a (rows, width) tensor built by numbered_dataset is.
inline std::int64_t sample_of(const std::vector<double>& values, std::int64_t width, std::int64_t r, double base = 0) {
  return static_cast<std::int64_t>((values[static_cast<std::size_t>(r * width)] - base) / 10.0);
}

// Random regression data: x (N, in) ~ N(0, 1), T targets (N, out) ~ N(0, 1).
inline Dataset random_dataset(std::int64_t N, std::int64_t in, std::int64_t out, int tasks, std::uint64_t seed) {
  Generator gen(seed);
  Dataset d{Tensor::randn({N, in}, gen), {}};
  for (int i = 0; i < tasks; ++i) d.targets.push_back(Tensor::randn({N, out}, gen));
  return d;
}

// trunk Linear(in, 8) + ReLU, W = Linear(8, 8), heads ReLU + Linear(8, out): MSE tasks task0, task1, ...
inline std::shared_ptr<multitask::MultitaskModel> tiny_model(std::int64_t in, std::int64_t out, int tasks,
                                                             std::uint64_t seed = 3) {
  Generator gen(seed);
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(std::make_shared<nn::Linear>(in, 8, gen));
  trunk->push_back(std::make_shared<nn::ReLU>());
  auto shared = std::make_shared<nn::Linear>(8, 8, gen);
  std::vector<std::shared_ptr<nn::Module>> heads;
  for (int i = 0; i < tasks; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::ReLU>());
    head->push_back(std::make_shared<nn::Linear>(8, out, gen));
    heads.push_back(head);
  }
  return std::make_shared<multitask::MultitaskModel>(trunk, shared, heads);
}

}  // namespace gn::app::testing
