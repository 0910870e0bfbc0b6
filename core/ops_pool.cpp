// Max pooling with indices, max unpooling, nearest / bilinear upsampling and batch norm (NCHW); each
// forward and its backward side by side, running the kernels behind core/dispatch_pool.h.
#include <algorithm>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/dispatch_pool.h"
#include "core/ops.h"

namespace gn {
namespace {

void check_nchw(const Tensor& x, const char* op) {
  check_floating(x, op);
  GN_CHECK(x.dim() == 4, "{}: expects a 4-d input (N, C, H, W), got shape {}", op, to_string(x.shape()));
}

// An optional per-channel tensor (weight, bias, running statistics): undefined, or (C) of x's dtype/device.
void check_channel_vector(const Tensor& t, const Tensor& x, std::int64_t C, const char* op, const char* what) {
  if (!t.defined()) return;
  GN_CHECK(t.dtype() == x.dtype() && t.device() == x.device(), "{}: {} is {} on {}, but the input is {} on {}", op,
           what, dtype_name(t.dtype()), to_string(t.device()), dtype_name(x.dtype()), to_string(x.device()));
  GN_CHECK(t.shape() == Shape{C}, "{}: {} has shape {}, expected ({},) for the input of shape {}", op, what,
           to_string(t.shape()), C, to_string(x.shape()));
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mutable_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

// ---- max pooling ----------------------------------------------------------------------------------------

MaxPoolResult max_pool2d_with_indices(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding) {
  check_nchw(x, "max_pool2d");
  GN_CHECK(kernel.h >= 1 && kernel.w >= 1 && stride.h >= 1 && stride.w >= 1 && padding.h >= 0 && padding.w >= 0,
           "max_pool2d: kernel ({}, {}) and stride ({}, {}) must be >= 1 and padding ({}, {}) >= 0 (input {})",
           kernel.h, kernel.w, stride.h, stride.w, padding.h, padding.w, to_string(x.shape()));
  GN_CHECK(padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2,
           "max_pool2d: padding ({}, {}) must be at most half of the kernel ({}, {}) (input {})", padding.h, padding.w,
           kernel.h, kernel.w, to_string(x.shape()));
  GN_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "max_pool2d: input of shape {} has an empty plane", to_string(x.shape()));
  Pool2dGeometry g;
  g.planes = x.size(0) * x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.kh = kernel.h;
  g.kw = kernel.w;
  g.sh = stride.h;
  g.sw = stride.w;
  g.ph = padding.h;
  g.pw = padding.w;
  GN_CHECK(g.H + 2 * g.ph >= g.kh && g.W + 2 * g.pw >= g.kw,
           "max_pool2d: kernel ({}, {}) is larger than the padded input of shape {} with padding ({}, {})", g.kh, g.kw,
           to_string(x.shape()), g.ph, g.pw);
  g.OH = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
  g.OW = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
  const Shape out_shape{x.size(0), x.size(1), g.OH, g.OW};
  MaxPoolResult r;
  r.values = Tensor::empty(out_shape, x.dtype(), x.device());
  r.indices = Tensor::empty(out_shape, DType::Int64, x.device());
  GN_DISPATCH_FLOAT(x.dtype(), "max_pool2d", [&] {
    dispatch::max_pool2d<scalar_t>(x.device(), g, x.data<scalar_t>(), r.values.data<scalar_t>(),
                                   r.indices.data<std::int64_t>());
  });
  r.values = record(r.values, "max_pool2d", {x}, [g, in_shape = x.shape(), idx = r.indices.detach()](const Tensor& gy) {
    Tensor gx = Tensor::empty(in_shape, gy.dtype(), gy.device());
    GN_DISPATCH_FLOAT(gy.dtype(), "max_pool2d backward", [&] {
      dispatch::max_pool2d_backward<scalar_t>(gy.device(), g, gy.data<scalar_t>(), idx.data<std::int64_t>(),
                                              gx.data<scalar_t>());
    });
    return std::vector<Tensor>{gx};
  });
  return r;
}

Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding) {
  return max_pool2d_with_indices(x, kernel, stride, padding).values;
}

// ---- max unpooling --------------------------------------------------------------------------------------

Tensor max_unpool2d(const Tensor& x, const Tensor& indices, std::int64_t output_h, std::int64_t output_w) {
  check_nchw(x, "max_unpool2d");
  check_defined(indices, "max_unpool2d", "indices");
  GN_CHECK(indices.dtype() == DType::Int64 && indices.device() == x.device(),
           "max_unpool2d: indices must be int64 on {}, got {} on {}", to_string(x.device()),
           dtype_name(indices.dtype()), to_string(indices.device()));
  GN_CHECK(indices.shape() == x.shape(), "max_unpool2d: indices of shape {} do not match the input of shape {}",
           to_string(indices.shape()), to_string(x.shape()));
  GN_CHECK(output_h >= 1 && output_w >= 1, "max_unpool2d: output size ({}, {}) must be positive (input {})", output_h,
           output_w, to_string(x.shape()));
  const std::int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  GN_CHECK(H * W <= output_h * output_w,
           "max_unpool2d: the input plane {}x{} has more elements than the output plane {}x{}", H, W, output_h,
           output_w);
  Tensor y = Tensor::empty({x.size(0), x.size(1), output_h, output_w}, x.dtype(), x.device());
  GN_DISPATCH_FLOAT(x.dtype(), "max_unpool2d", [&] {
    dispatch::max_unpool2d<scalar_t>(x.device(), planes, H, W, output_h, output_w, x.data<scalar_t>(),
                                     indices.data<std::int64_t>(), y.data<scalar_t>());
  });
  return record(y, "max_unpool2d", {x},
                [planes, H, W, output_h, output_w, in_shape = x.shape(), idx = indices.detach()](const Tensor& gy) {
                  Tensor gx = Tensor::empty(in_shape, gy.dtype(), gy.device());
                  GN_DISPATCH_FLOAT(gy.dtype(), "max_unpool2d backward", [&] {
                    dispatch::max_unpool2d_backward<scalar_t>(gy.device(), planes, H, W, output_h, output_w,
                                                              gy.data<scalar_t>(), idx.data<std::int64_t>(),
                                                              gx.data<scalar_t>());
                  });
                  return std::vector<Tensor>{gx};
                });
}

// ---- upsampling -----------------------------------------------------------------------------------------

namespace {

Tensor upsample(const Tensor& x, std::int64_t out_h, std::int64_t out_w, bool bilinear, bool align_corners,
                const char* name) {
  check_nchw(x, name);
  GN_CHECK(out_h >= 1 && out_w >= 1, "{}: output size ({}, {}) must be positive (input {})", name, out_h, out_w,
           to_string(x.shape()));
  GN_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "{}: input of shape {} has an empty plane", name, to_string(x.shape()));
  const std::int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  GN_DISPATCH_FLOAT(x.dtype(), name, [&] {
    if (bilinear)
      dispatch::upsample_bilinear2d<scalar_t>(x.device(), planes, H, W, out_h, out_w, align_corners, x.data<scalar_t>(),
                                              y.data<scalar_t>());
    else
      dispatch::upsample_nearest2d<scalar_t>(x.device(), planes, H, W, out_h, out_w, x.data<scalar_t>(),
                                             y.data<scalar_t>());
  });
  return record(y, name, {x},
                [planes, H, W, out_h, out_w, bilinear, align_corners, name, in_shape = x.shape()](const Tensor& gy) {
                  Tensor gx = Tensor::empty(in_shape, gy.dtype(), gy.device());
                  GN_DISPATCH_FLOAT(gy.dtype(), name, [&] {
                    if (bilinear)
                      dispatch::upsample_bilinear2d_backward<scalar_t>(gy.device(), planes, H, W, out_h, out_w,
                                                                       align_corners, gy.data<scalar_t>(),
                                                                       gx.data<scalar_t>());
                    else
                      dispatch::upsample_nearest2d_backward<scalar_t>(gy.device(), planes, H, W, out_h, out_w,
                                                                      gy.data<scalar_t>(), gx.data<scalar_t>());
                  });
                  return std::vector<Tensor>{gx};
                });
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  return upsample(x, out_h, out_w, false, false, "upsample_nearest2d");
}

Tensor upsample_bilinear2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w, bool align_corners) {
  return upsample(x, out_h, out_w, true, align_corners, "upsample_bilinear2d");
}

// ---- batch norm -----------------------------------------------------------------------------------------

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  check_floating(x, op);
  GN_CHECK(x.dim() >= 2, "batch_norm: expects an input (N, C, ...) with at least 2 dimensions, got shape {}",
           to_string(x.shape()));
  const std::int64_t N = x.size(0), C = x.size(1), HW = x.numel() / std::max<std::int64_t>(N * C, 1);
  check_channel_vector(running_mean, x, C, op, "running_mean");
  check_channel_vector(running_var, x, C, op, "running_var");
  check_channel_vector(weight, x, C, op, "weight");
  check_channel_vector(bias, x, C, op, "bias");
  GN_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must both be given or both be undefined");
  GN_CHECK(!running_mean.requires_grad() && !running_var.requires_grad(),
           "batch_norm: running statistics are buffers and must not require grad");
  GN_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, "batch_norm: eps {} must be > 0 and momentum {} in [0, 1]", eps,
           momentum);
  if (training)
    GN_CHECK(N * HW > 1, "batch_norm: expected more than 1 value per channel when training, got input of shape {}",
             to_string(x.shape()));
  else
    GN_CHECK(running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var (input of shape {})",
             to_string(x.shape()));
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({C}, x.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({C}, x.dtype(), x.device());
  GN_DISPATCH_FLOAT(x.dtype(), op, [&] {
    if (training)
      dispatch::batch_norm_forward_train<scalar_t>(
          x.device(), N, C, HW, x.data<scalar_t>(), data_or_null<scalar_t>(weight), data_or_null<scalar_t>(bias), eps,
          momentum, mutable_or_null<scalar_t>(running_mean), mutable_or_null<scalar_t>(running_var), y.data<scalar_t>(),
          save_mean.data<scalar_t>(), save_invstd.data<scalar_t>());
    else
      dispatch::batch_norm_forward_eval<scalar_t>(
          x.device(), N, C, HW, x.data<scalar_t>(), data_or_null<scalar_t>(weight), data_or_null<scalar_t>(bias),
          running_mean.data<scalar_t>(), running_var.data<scalar_t>(), eps, y.data<scalar_t>(),
          save_mean.data<scalar_t>(), save_invstd.data<scalar_t>());
  });
  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  return record(
      y, op, std::move(inputs),
      [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), has_w = weight.defined(),
       has_b = bias.defined(), nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
       nb = bias.defined() && bias.requires_grad(), save_mean, save_invstd, training, N, C, HW](const Tensor& gy) {
        std::vector<Tensor> grads(1 + (has_w ? 1 : 0) + (has_b ? 1 : 0));
        Tensor gx, gw, gb;
        if (nx) gx = Tensor::empty(x.shape(), gy.dtype(), gy.device());
        if (nw) gw = Tensor::empty({C}, gy.dtype(), gy.device());
        if (nb) gb = Tensor::empty({C}, gy.dtype(), gy.device());
        GN_DISPATCH_FLOAT(gy.dtype(), "batch_norm backward", [&] {
          dispatch::batch_norm_backward<scalar_t>(gy.device(), N, C, HW, x.data<scalar_t>(), gy.data<scalar_t>(),
                                                  data_or_null<scalar_t>(w), save_mean.data<scalar_t>(),
                                                  save_invstd.data<scalar_t>(), training, mutable_or_null<scalar_t>(gx),
                                                  mutable_or_null<scalar_t>(gw), mutable_or_null<scalar_t>(gb));
        });
        grads[0] = gx;
        if (has_w) grads[1] = gw;
        if (has_b) grads[has_w ? 2 : 1] = gb;
        return grads;
      });
}

// ---- compositions ---------------------------------------------------------------------------------------

Tensor add_channel_bias(const Tensor& x, const Tensor& bias) {
  check_nchw(x, "add_channel_bias");
  check_defined(bias, "add_channel_bias", "bias");
  check_channel_vector(bias, x, x.size(1), "add_channel_bias", "bias");
  return add(x, reshape(bias, {1, x.size(1), 1, 1}));
}

Tensor global_avg_pool2d(const Tensor& x) {
  check_nchw(x, "global_avg_pool2d");
  GN_CHECK(x.size(2) * x.size(3) > 0, "global_avg_pool2d: input of shape {} has an empty plane", to_string(x.shape()));
  return mean(reshape(x, {x.size(0), x.size(1), x.size(2) * x.size(3)}), 2);
}

}  // namespace gn
