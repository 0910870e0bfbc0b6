// Dense-prediction losses (masked depth regression, surface-normal cosine), each a fused forward and a
// fused backward kernel, and the nearest resize of targets behind the resolution rule.
#include "core/ops_dense_loss.h"

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/dispatch_dense_loss.h"
#include "core/ops.h"

namespace gn {

namespace {

// pred and target: same dtype (float), device and shape, not empty. Errors name the op and both shapes.
void check_dense_pair(const Tensor& pred, const Tensor& target, const char* op) {
  check_floating(pred, op);
  check_defined(target, op, "target");
  check_same_dtype_device(pred, target, op);
  GN_CHECK(pred.shape() == target.shape(), "{}: prediction {} and target {} differ in shape", op,
           to_string(pred.shape()), to_string(target.shape()));
  GN_CHECK(pred.numel() > 0, "{}: prediction of shape {} is empty", op, to_string(pred.shape()));
}

Tensor masked_regression_loss(const Tensor& pred, const Tensor& target, MaskedPenalty k, const char* op) {
  check_dense_pair(pred, target, op);
  Tensor out = Tensor::empty({}, pred.dtype(), pred.device());
  // The number of valid pixels stays where the loss is (device memory on CUDA) for the backward.
  Tensor counted = Tensor::empty({}, DType::Int64, pred.device());
  GN_DISPATCH_FLOAT(pred.dtype(), op, [&] {
    dispatch::masked_regression<scalar_t>(pred.device(), k, pred.numel(), pred.data<scalar_t>(),
                                          target.data<scalar_t>(), out.data<scalar_t>(), counted.data<std::int64_t>());
  });
  return record(out, op, {pred, target},
                [p = pred.detach(), t = target.detach(), counted, k, op, np = pred.requires_grad(),
                 nt = target.requires_grad()](const Tensor& g) {
                  Tensor gp = Tensor::empty(p.shape(), p.dtype(), p.device());
                  GN_DISPATCH_FLOAT(p.dtype(), op, [&] {
                    dispatch::masked_regression_backward<scalar_t>(p.device(), k, p.numel(), p.data<scalar_t>(),
                                                                   t.data<scalar_t>(), g.data<scalar_t>(),
                                                                   counted.data<std::int64_t>(), gp.data<scalar_t>());
                  });
                  return std::vector<Tensor>{np ? gp : Tensor(), nt ? neg(gp) : Tensor()};
                });
}

}  // namespace

Tensor masked_mse_loss(const Tensor& pred, const Tensor& target) {
  return masked_regression_loss(pred, target, MaskedPenalty::Squared, "masked_mse_loss");
}

Tensor masked_l1_loss(const Tensor& pred, const Tensor& target) {
  return masked_regression_loss(pred, target, MaskedPenalty::Absolute, "masked_l1_loss");
}

Tensor normal_cosine_loss(const Tensor& pred, const Tensor& target) {
  constexpr const char* op = "normal_cosine_loss";
  check_floating(pred, op);
  GN_CHECK(pred.dim() >= 2, "{}: prediction {} needs a vector dimension: (N, C, ...) with C along dim 1", op,
           to_string(pred.shape()));
  check_dense_pair(pred, target, op);
  const std::int64_t N = pred.size(0), C = pred.size(1), S = pred.numel() / (N * C);
  Tensor out = Tensor::empty({}, pred.dtype(), pred.device());
  Tensor counted = Tensor::empty({}, DType::Int64, pred.device());
  GN_DISPATCH_FLOAT(pred.dtype(), op, [&] {
    dispatch::normal_cosine<scalar_t>(pred.device(), N, C, S, pred.data<scalar_t>(), target.data<scalar_t>(),
                                      out.data<scalar_t>(), counted.data<std::int64_t>());
  });
  return record(out, op, {pred}, [p = pred.detach(), t = target.detach(), counted, N, C, S](const Tensor& g) {
    Tensor gp = Tensor::empty(p.shape(), p.dtype(), p.device());
    GN_DISPATCH_FLOAT(p.dtype(), "normal_cosine_loss backward", [&] {
      dispatch::normal_cosine_backward<scalar_t>(p.device(), N, C, S, p.data<scalar_t>(), t.data<scalar_t>(),
                                                 g.data<scalar_t>(), counted.data<std::int64_t>(), gp.data<scalar_t>());
    });
    return std::vector<Tensor>{gp};
  });
}

// ---- the resolution rule ----------------------------------------------------------------------------------

Tensor resize_nearest2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  check_defined(x, "resize_nearest2d", "input");
  GN_CHECK(x.dim() >= 2, "resize_nearest2d: input {} needs at least two (spatial) dimensions", to_string(x.shape()));
  const std::int64_t H = x.size(x.dim() - 2), W = x.size(x.dim() - 1);
  GN_CHECK(out_h >= 1 && out_w >= 1, "resize_nearest2d: output size ({}, {}) must be positive (input {})", out_h, out_w,
           to_string(x.shape()));
  GN_CHECK(H >= 1 && W >= 1, "resize_nearest2d: input of shape {} has an empty plane", to_string(x.shape()));
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 2] = out_h;
  out_shape[out_shape.size() - 1] = out_w;
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  dispatch::resize_nearest2d(x.device(), x.numel() / (H * W), H, W, out_h, out_w, dtype_size(x.dtype()), x.raw_data(),
                             y.raw_data());
  return y;
}

Tensor match_resolution(const Tensor& target, const Tensor& pred) {
  check_defined(target, "match_resolution", "target");
  check_defined(pred, "match_resolution", "prediction");
  GN_CHECK(pred.dim() >= 2 && target.dim() >= 2,
           "match_resolution: prediction {} and target {} need two spatial (last) dimensions", to_string(pred.shape()),
           to_string(target.shape()));
  const std::int64_t h = pred.size(pred.dim() - 2), w = pred.size(pred.dim() - 1);
  if (target.size(target.dim() - 2) == h && target.size(target.dim() - 1) == w) return target;
  return resize_nearest2d(target, h, w);
}

}  // namespace gn
