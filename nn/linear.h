#pragma once
// Linear: y = x W^T + b, one GEMM (gn::linear). x: (B, in) -> y: (B, out).
#include <cstdint>

#include "core/rng.h"
#include "nn/shared_layer.h"

namespace gn::nn {

class Linear : public SharedLayer {
 public:
  // Default initialisation is PyTorch's (torch.nn.Linear.reset_parameters): weight from
  // kaiming_uniform_(a = sqrt(5)), which is U(-1/sqrt(in), 1/sqrt(in)), then bias from the same
  // U(-1/sqrt(in), 1/sqrt(in)); drawn from `gen` in that order. Re-initialise with nn/init.h if a layer
  // wants another scheme (e.g. kaiming_normal_ before a ReLU).
  Linear(std::int64_t in, std::int64_t out, Generator& gen, bool with_bias = true, DType dtype = DType::Float32,
         Device device = cpu_device());

  Tensor forward(const Tensor& x) override;  // x: (B, in) -> (B, out)
  // As W of a multitask step: h (B, in), deltas (B, T*out) -> grads {weight (T, out, in), bias (T, out)},
  // all tasks in ONE GEMM, deltas^T h, and one column sum.
  void stacked_parameter_grads(const Tensor& h, const Tensor& deltas, int num_tasks, std::span<Tensor> grads) override;
  // delta (B, out) -> grad_h (B, in) = delta weight.
  void input_grad(const Tensor& delta, Tensor& grad_h) override;

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }

  Tensor weight;  // (out, in)
  Tensor bias;    // (out), or undefined when constructed with with_bias = false

 private:
  std::int64_t in_;
  std::int64_t out_;
};

}  // namespace gn::nn
