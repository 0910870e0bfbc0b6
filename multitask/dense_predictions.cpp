#include "multitask/dense_predictions.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace gn::multitask {
namespace {

// x: float (N, C, h, w) with C == channels (when channels > 0) -> (N, C, H, W), bilinear when the size
// differs, with no autograd graph.
Tensor resized(const Tensor& x, std::int64_t channels, std::int64_t H, std::int64_t W, const char* fn) {
  check_defined(x, fn, "prediction");
  GN_CHECK(x.dim() == 4, "{}: expects a prediction (N, C, h, w), got shape {}", fn, to_string(x.shape()));
  GN_CHECK(channels <= 0 || x.size(1) == channels, "{}: expects {} channels, got shape {}", fn, channels,
           to_string(x.shape()));
  GN_CHECK(x.size(1) > 0, "{}: the prediction has no channel (shape {})", fn, to_string(x.shape()));
  GN_CHECK(H > 0 && W > 0, "{}: the target size must be positive, got {}x{}", fn, H, W);
  GN_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, "{}: expects a float prediction, got {}", fn,
           dtype_name(x.dtype()));
  NoGradGuard no_grad;
  if (x.size(2) == H && x.size(3) == W) return x.detach();
  return upsample_bilinear2d(x.detach(), H, W, /*align_corners=*/false);
}

}  // namespace

Tensor segmentation_labels(const Tensor& logits, std::int64_t H, std::int64_t W) {
  const Tensor up = resized(logits, 0, H, W, "segmentation_labels");
  const std::int64_t N = up.size(0), C = up.size(1), P = H * W;
  const std::vector<double> v = up.to_vector();  // (N, C, H, W), host
  std::vector<std::int64_t> labels(static_cast<std::size_t>(N * P));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t p = 0; p < P; ++p) {
      const double* col = v.data() + n * C * P + p;  // class c at col[c * P]
      std::int64_t best = 0;
      for (std::int64_t c = 0; c < C; ++c) {
        GN_CHECK(!std::isnan(col[c * P]), "segmentation_labels: the logit of class {} is NaN (sample {}, pixel {})", c,
                 n, p);
        if (col[c * P] > col[best * P]) best = c;  // strict: ties go to the lowest class
      }
      labels[static_cast<std::size_t>(n * P + p)] = best;
    }
  return Tensor::from_labels(labels, {N, H, W}, logits.device());
}

Tensor depth_at(const Tensor& pred, std::int64_t H, std::int64_t W) { return resized(pred, 1, H, W, "depth_at"); }

Tensor normals_at(const Tensor& pred, std::int64_t H, std::int64_t W) {
  const Tensor up = resized(pred, 3, H, W, "normals_at");
  const std::int64_t N = up.size(0), P = H * W;
  std::vector<double> v = up.to_vector();  // (N, 3, H, W), host
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t p = 0; p < P; ++p) {
      double* x = v.data() + n * 3 * P + p;  // component k at x[k * P]
      const double norm = std::sqrt(x[0] * x[0] + x[P] * x[P] + x[2 * P] * x[2 * P]);
      const double scale = 1.0 / std::max(norm, 1e-12);
      for (int k = 0; k < 3; ++k) x[k * P] *= scale;
    }
  return Tensor::from_vector(v, up.shape(), up.dtype(), pred.device());
}

}  // namespace gn::multitask
