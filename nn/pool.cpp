#include "nn/pool.h"

#include <cmath>

namespace gn::nn {
namespace {

void check_window(Size2 kernel, Size2 stride, Size2 padding, const char* what) {
  GN_CHECK(kernel.h >= 1 && kernel.w >= 1 && stride.h >= 1 && stride.w >= 1 && padding.h >= 0 && padding.w >= 0,
           "{}: kernel ({}, {}) and stride ({}, {}) must be >= 1 and padding ({}, {}) >= 0", what, kernel.h, kernel.w,
           stride.h, stride.w, padding.h, padding.w);
}

}  // namespace

MaxPool2d::MaxPool2d(Size2 kernel, std::optional<Size2> stride, Size2 padding)
    : kernel_(kernel), stride_(stride.value_or(kernel)), padding_(padding) {
  check_window(kernel_, stride_, padding_, "MaxPool2d");
}

Tensor MaxPool2d::forward(const Tensor& x) { return forward_with_indices(x).values; }

MaxPoolResult MaxPool2d::forward_with_indices(const Tensor& x) {
  GN_CHECK(x.defined(), "MaxPool2d: input is an undefined tensor");
  return gn::max_pool2d_with_indices(x, kernel_, stride_, padding_);
}

MaxUnpool2d::MaxUnpool2d(Size2 kernel, std::optional<Size2> stride, Size2 padding)
    : kernel_(kernel), stride_(stride.value_or(kernel)), padding_(padding) {
  check_window(kernel_, stride_, padding_, "MaxUnpool2d");
}

Tensor MaxUnpool2d::forward(const Tensor& x) {
  GN_FAIL("MaxUnpool2d: forward(x) has no indices (input {}); call unpool(x, indices[, output_size])",
          x.defined() ? to_string(x.shape()) : std::string("undefined"));
}

Tensor MaxUnpool2d::unpool(const Tensor& x, const Tensor& indices, std::optional<Size2> output_size) {
  GN_CHECK(x.defined() && x.dim() == 4, "MaxUnpool2d: expects a 4-d input (N, C, H, W), got {}",
           x.defined() ? to_string(x.shape()) : std::string("an undefined tensor"));
  const Size2 out = output_size.value_or(Size2((x.size(2) - 1) * stride_.h - 2 * padding_.h + kernel_.h,
                                               (x.size(3) - 1) * stride_.w - 2 * padding_.w + kernel_.w));
  return gn::max_unpool2d(x, indices, out.h, out.w);
}

std::shared_ptr<Upsample> Upsample::with_size(Size2 size, Mode mode, bool align_corners) {
  GN_CHECK(size.h >= 1 && size.w >= 1, "Upsample: size ({}, {}) must be positive", size.h, size.w);
  return std::shared_ptr<Upsample>(new Upsample(size, 0, 0, mode, align_corners));
}

std::shared_ptr<Upsample> Upsample::with_scale(double scale_h, double scale_w, Mode mode, bool align_corners) {
  GN_CHECK(scale_h > 0 && scale_w > 0, "Upsample: scale factors ({}, {}) must be positive", scale_h, scale_w);
  return std::shared_ptr<Upsample>(new Upsample(std::nullopt, scale_h, scale_w, mode, align_corners));
}

Upsample::Upsample(std::optional<Size2> size, double scale_h, double scale_w, Mode mode, bool align_corners)
    : size_(size), scale_h_(scale_h), scale_w_(scale_w), mode_(mode), align_corners_(align_corners) {}

Tensor Upsample::forward(const Tensor& x) {
  GN_CHECK(x.defined() && x.dim() == 4, "Upsample: expects a 4-d input (N, C, H, W), got {}",
           x.defined() ? to_string(x.shape()) : std::string("an undefined tensor"));
  const Size2 out =
      size_.value_or(Size2(static_cast<std::int64_t>(std::floor(static_cast<double>(x.size(2)) * scale_h_)),
                           static_cast<std::int64_t>(std::floor(static_cast<double>(x.size(3)) * scale_w_))));
  return mode_ == Mode::Bilinear ? gn::upsample_bilinear2d(x, out.h, out.w, align_corners_)
                                 : gn::upsample_nearest2d(x, out.h, out.w);
}

}  // namespace gn::nn
