#pragma once
// Parameter initialisers. Each overwrites its tensor in place (the handle, and so every alias, keeps
// pointing at the same storage) with numbers drawn from `gen`: the same generator state gives the same
// numbers on every run and machine (see core/rng.h). Formulas follow torch.nn.init.
//
// Fans of a weight of shape (out, in, k1, k2, ...): fan_in = in * k1 * k2 * ..., fan_out = out * k1 * k2 * ...
// For a Linear weight (out, in) that is fan_in = in, fan_out = out. Tensors with fewer than 2 axes have
// no fans and are rejected by the fan-based initialisers.
#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace gn::nn {

struct Fans {
  std::int64_t fan_in;
  std::int64_t fan_out;
};
Fans compute_fans(const Tensor& t);

// U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)): variance gain^2 * 2 / (fan_in + fan_out), which
// keeps activations and gradients at a similar scale in both directions (Glorot & Bengio 2010).
void xavier_uniform_(Tensor& t, Generator& gen, double gain = 1.0);
// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
void xavier_normal_(Tensor& t, Generator& gen, double gain = 1.0);

// fan_in mode, leaky-ReLU gain sqrt(2 / (1 + a^2)) (He et al. 2015): keeps the forward variance through a
// ReLU network (a = 0). U(-b, b) with b = gain * sqrt(3 / fan_in). Note a = sqrt(5) gives b = 1/sqrt(fan_in),
// PyTorch's default for nn.Linear and nn.Conv weights.
void kaiming_uniform_(Tensor& t, Generator& gen, double a = 0.0);
// N(0, std^2) with std = gain / sqrt(fan_in), gain = sqrt(2 / (1 + a^2)).
void kaiming_normal_(Tensor& t, Generator& gen, double a = 0.0);

// Plain distributions, for biases and tests.
void uniform_(Tensor& t, Generator& gen, double low, double high);
void normal_(Tensor& t, Generator& gen, double mean = 0.0, double stddev = 1.0);
void zeros_(Tensor& t);
void constant_(Tensor& t, double value);

}  // namespace gn::nn
