#pragma once
// Convolution layers (NCHW, groups = 1): Conv2d (gn::conv2d), which is also a SharedLayer so it can be the
// multitask W, and ConvTranspose2d (gn::conv_transpose2d). Default initialisation is PyTorch's
// (torch.nn.modules.conv._ConvNd.reset_parameters): weight from kaiming_uniform_(a = sqrt(5)), which is
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), then bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with fan_in from
// the weight's dim 1 times the kernel area (nn/init.h: compute_fans); drawn from `gen` in that order. For
// ConvTranspose2d that dim is C_out, as in PyTorch.
#include <cstdint>

#include "core/ops_conv.h"
#include "core/rng.h"
#include "kernels/conv_shape.h"
#include "nn/shared_layer.h"

namespace gn::nn {

struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  bool bias = true;
};

class Conv2d : public SharedLayer {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel, Generator& gen, Conv2dOptions options = {},
         DType dtype = DType::Float32, Device device = cpu_device());

  Tensor forward(const Tensor& x) override;  // (B, C_in, H, W) -> (B, C_out, H_out, W_out)
  // As W of a multitask step: h (B, C_in, H, W), deltas (B, T*C_out, H_out, W_out) -> grads {weight
  // (T, C_out, C_in, kH, kW), bias (T, C_out)}: all tasks in ONE backward-filter call over the T*C_out
  // stacked channels (one im2col of h serves every task).
  void stacked_parameter_grads(const Tensor& h, const Tensor& deltas, int num_tasks, std::span<Tensor> grads) override;
  // delta (B, C_out, H_out, W_out) -> grad_h (B, C_in, H, W), one backward-data call. grad_h's shape says
  // H and W (with stride > 1 several input sizes give the same output size).
  void input_grad(const Tensor& delta, Tensor& grad_h) override;

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  const Conv2dOptions& options() const { return options_; }

  Tensor weight;  // (C_out, C_in, kH, kW)
  Tensor bias;    // (C_out), or undefined when options.bias is false

 private:
  ConvShape shape_for(const Tensor& h) const;
  std::int64_t in_, out_;
  Size2 kernel_;
  Conv2dOptions options_;
};

struct ConvTranspose2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 output_padding = 0;
  Size2 dilation = 1;
  bool bias = true;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel, Generator& gen,
                  ConvTranspose2dOptions options = {}, DType dtype = DType::Float32, Device device = cpu_device());

  // (B, C_in, H, W) -> (B, C_out, (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1, ...)
  Tensor forward(const Tensor& x) override;

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  const ConvTranspose2dOptions& options() const { return options_; }

  Tensor weight;  // (C_in, C_out, kH, kW)
  Tensor bias;    // (C_out), or undefined when options.bias is false

 private:
  std::int64_t in_, out_;
  Size2 kernel_;
  ConvTranspose2dOptions options_;
};

}  // namespace gn::nn
