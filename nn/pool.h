#pragma once
// Pooling and resampling layers (NCHW), PyTorch's semantics: MaxPool2d, MaxUnpool2d, Upsample. No parameters.
#include <cstdint>
#include <memory>
#include <optional>

#include "core/ops.h"
#include "nn/module.h"

namespace gn::nn {

// torch.nn.MaxPool2d(kernel, stride = kernel, padding) (dilation 1, floor mode).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
  Tensor forward(const Tensor& x) override;  // the pooled values
  // Values and the argmax indices (for MaxUnpool2d, as SegNet's decoder uses them).
  MaxPoolResult forward_with_indices(const Tensor& x);

  Size2 kernel() const { return kernel_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }

 private:
  Size2 kernel_, stride_, padding_;
};

// torch.nn.MaxUnpool2d(kernel, stride = kernel, padding): places each value at its index in a zero output.
// The output size defaults to (H - 1) stride - 2 padding + kernel; pass it explicitly for inputs pooled from
// odd sizes (unpool(x, idx, {h, w})).
class MaxUnpool2d : public Module {
 public:
  explicit MaxUnpool2d(Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
  // A Module's forward takes one tensor: unpooling needs the indices, so forward(x) throws; use unpool.
  Tensor forward(const Tensor& x) override;
  Tensor unpool(const Tensor& x, const Tensor& indices, std::optional<Size2> output_size = std::nullopt);
  Tensor operator()(const Tensor& x, const Tensor& indices, std::optional<Size2> output_size = std::nullopt) {
    return unpool(x, indices, output_size);
  }

 private:
  Size2 kernel_, stride_, padding_;
};

// torch.nn.Upsample with size or scale_factor, mode nearest or bilinear (align_corners for bilinear). The
// kernels map positions with in / out as the scale (PyTorch's behaviour with a size, or with
// recompute_scale_factor=True); for integer scale factors that is the same as PyTorch's default.
class Upsample : public Module {
 public:
  enum class Mode { Nearest, Bilinear };
  // Output size (H, W) fixed.
  static std::shared_ptr<Upsample> with_size(Size2 size, Mode mode = Mode::Nearest, bool align_corners = false);
  // Output size floor(H * scale_h), floor(W * scale_w).
  static std::shared_ptr<Upsample> with_scale(double scale_h, double scale_w, Mode mode = Mode::Nearest,
                                              bool align_corners = false);
  Tensor forward(const Tensor& x) override;

 private:
  Upsample(std::optional<Size2> size, double scale_h, double scale_w, Mode mode, bool align_corners);
  std::optional<Size2> size_;
  double scale_h_, scale_w_;
  Mode mode_;
  bool align_corners_;
};

}  // namespace gn::nn
