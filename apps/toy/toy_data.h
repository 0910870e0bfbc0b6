#pragma once
// The paper's toy regression (Section 4): T tasks f_i(x) = sigma_i tanh((B + eps_i) x), x in R^250,
// f_i(x) in R^100, B ~ N(0, 10^2) shared by all tasks, eps_i ~ N(0, 3.5^2) per task. Everything from one
// seed; a fixed training set and a separate held-out test set.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace gn::toy {

struct ToyDataConfig {
  std::vector<double> sigmas{1.0, 100.0};
  std::int64_t input_dim = 250, output_dim = 100;
  double b_std = 10.0, eps_std = 3.5;
  // Inputs x ~ N(0, input_std^2). The paper does not say; the default keeps the tanh argument at unit
  // standard deviation (input_std = 1 / sqrt(input_dim * (b_std^2 + eps_std^2))), so tanh is neither
  // linear nor saturated and every task has something to learn. The network is fed the standardised
  // inputs x / input_std (unit variance), as one would preprocess any real input.
  double input_std = -1;  // < 0: the default above
  std::int64_t train_size = 10000, test_size = 2000;
  std::uint64_t seed = 1;
  double resolved_input_std() const;
};

struct ToySplit {
  Tensor x;               // (N, input_dim), standardised: x / input_std
  std::vector<Tensor> y;  // T tensors (N, output_dim)
};

struct ToyData {
  ToySplit train, test;
};

// Float32 tensors on the CPU (the step moves batches where they are needed).
ToyData make_toy_data(const ToyDataConfig& config);

}  // namespace gn::toy
