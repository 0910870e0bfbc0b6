// conv2d and conv_transpose2d, forward and backward side by side. conv_transpose2d's forward is conv2d's
// backward-data, its input gradient is conv2d's forward and its weight gradient conv2d's backward-filter
// with the roles of input and output swapped; so both ops run on the same three kernels.
#include <string>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/dispatch_conv.h"
#include "core/ops.h"

namespace gn {
namespace {

std::string pair_str(Size2 p) { return fmt::format("({}, {})", p.h, p.w); }

void check_conv_args(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
                     Size2 padding, Size2 dilation) {
  check_floating(x, op);
  check_defined(weight, op, "weight");
  check_same_dtype_device(x, weight, op);
  if (bias.defined()) check_same_dtype_device(x, bias, op);
  GN_CHECK(x.dim() == 4, "{}: expects input of shape (B, C, H, W), got {}", op, to_string(x.shape()));
  GN_CHECK(weight.dim() == 4,
           "{}: expects a weight of shape (C_out, C_in, kH, kW) for conv2d or (C_in, C_out, kH, kW) "
           "for conv_transpose2d, got {}",
           op, to_string(weight.shape()));
  GN_CHECK(stride.h >= 1 && stride.w >= 1, "{}: stride must be >= 1, got {}", op, pair_str(stride));
  GN_CHECK(padding.h >= 0 && padding.w >= 0, "{}: padding must be >= 0, got {}", op, pair_str(padding));
  GN_CHECK(dilation.h >= 1 && dilation.w >= 1, "{}: dilation must be >= 1, got {}", op, pair_str(dilation));
  GN_CHECK(weight.size(2) >= 1 && weight.size(3) >= 1, "{}: empty kernel in weight {}", op, to_string(weight.shape()));
}

template <class F>
void dispatch_float(const Tensor& t, const char* op, F&& f) {
  GN_DISPATCH_FLOAT(t.dtype(), op, [&] { f(scalar_t{}); });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride, Size2 padding, Size2 dilation) {
  constexpr const char* op = "conv2d";
  check_conv_args(op, x, weight, bias, stride, padding, dilation);
  GN_CHECK(weight.size(1) == x.size(1),
           "conv2d: input {} has {} channels but weight {} (C_out, C_in, kH, kW) expects {} (groups = 1)",
           to_string(x.shape()), x.size(1), to_string(weight.shape()), weight.size(1));
  ConvShape s;
  s.batch = x.size(0), s.in_channels = x.size(1), s.in_h = x.size(2), s.in_w = x.size(3);
  s.out_channels = weight.size(0), s.kernel_h = weight.size(2), s.kernel_w = weight.size(3);
  s.stride_h = stride.h, s.stride_w = stride.w, s.pad_h = padding.h, s.pad_w = padding.w;
  s.dilation_h = dilation.h, s.dilation_w = dilation.w;
  s.out_h = conv_out_size(s.in_h, s.kernel_h, s.stride_h, s.pad_h, s.dilation_h);
  s.out_w = conv_out_size(s.in_w, s.kernel_w, s.stride_w, s.pad_w, s.dilation_w);
  GN_CHECK(s.out_h >= 1 && s.out_w >= 1,
           "conv2d: kernel {}x{} with dilation {} does not fit input {} with padding {} (output would be {}x{})",
           s.kernel_h, s.kernel_w, pair_str(dilation), to_string(x.shape()), pair_str(padding), s.out_h, s.out_w);
  if (bias.defined())
    GN_CHECK(bias.shape() == Shape{s.out_channels}, "conv2d: bias has shape {}, expected ({},) for weight {}",
             to_string(bias.shape()), s.out_channels, to_string(weight.shape()));

  Tensor y = Tensor::empty({s.batch, s.out_channels, s.out_h, s.out_w}, x.dtype(), x.device());
  dispatch_float(x, op, [&](auto z) {
    using T = decltype(z);
    dispatch::conv2d_forward<T>(x.device(), s, x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                y.data<T>());
  });
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record(y, op, std::move(inputs),
                [x = x.detach(), w = weight.detach(), s, has_bias = bias.defined(), nx = x.requires_grad(),
                 nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad()](const Tensor& g) {
                  std::vector<Tensor> grads(has_bias ? 3 : 2);
                  dispatch_float(g, "conv2d backward", [&](auto z) {
                    using T = decltype(z);
                    if (nx) {
                      grads[0] = Tensor::empty(x.shape(), g.dtype(), g.device());
                      dispatch::conv2d_backward_data<T>(g.device(), s, g.data<T>(), w.data<T>(), grads[0].data<T>());
                    }
                    if (nw || nb) {
                      T* db = nullptr;
                      if (nb) {
                        grads[2] = Tensor::empty({s.out_channels}, g.dtype(), g.device());
                        db = grads[2].data<T>();
                      }
                      // The filter gradient is computed whenever the bias one is (one pass over dy).
                      Tensor gw = Tensor::empty(w.shape(), g.dtype(), g.device());
                      dispatch::conv2d_backward_filter<T>(g.device(), s, x.data<T>(), g.data<T>(), gw.data<T>(), db);
                      if (nw) grads[1] = gw;
                    }
                  });
                  return grads;
                });
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride, Size2 padding,
                        Size2 output_padding, Size2 dilation) {
  constexpr const char* op = "conv_transpose2d";
  check_conv_args(op, x, weight, bias, stride, padding, dilation);
  GN_CHECK(weight.size(0) == x.size(1),
           "conv_transpose2d: input {} has {} channels but weight {} (C_in, C_out, kH, kW) expects {} (groups = 1)",
           to_string(x.shape()), x.size(1), to_string(weight.shape()), weight.size(0));
  GN_CHECK(output_padding.h >= 0 && output_padding.w >= 0 &&
               (output_padding.h < stride.h || output_padding.h < dilation.h) &&
               (output_padding.w < stride.w || output_padding.w < dilation.w),
           "conv_transpose2d: output_padding {} must be >= 0 and smaller than either stride {} or dilation {}",
           pair_str(output_padding), pair_str(stride), pair_str(dilation));
  // The convolution whose backward-data this is: input = our output, output = our input.
  ConvShape s;
  s.batch = x.size(0), s.out_channels = x.size(1), s.out_h = x.size(2), s.out_w = x.size(3);
  s.in_channels = weight.size(1), s.kernel_h = weight.size(2), s.kernel_w = weight.size(3);
  s.stride_h = stride.h, s.stride_w = stride.w, s.pad_h = padding.h, s.pad_w = padding.w;
  s.dilation_h = dilation.h, s.dilation_w = dilation.w;
  s.in_h = (s.out_h - 1) * s.stride_h - 2 * s.pad_h + s.dilation_h * (s.kernel_h - 1) + output_padding.h + 1;
  s.in_w = (s.out_w - 1) * s.stride_w - 2 * s.pad_w + s.dilation_w * (s.kernel_w - 1) + output_padding.w + 1;
  GN_CHECK(s.in_h >= 1 && s.in_w >= 1 && s.out_h >= 1 && s.out_w >= 1,
           "conv_transpose2d: input {} with weight {}, stride {}, padding {}, dilation {} gives an empty output {}x{}",
           to_string(x.shape()), to_string(weight.shape()), pair_str(stride), pair_str(padding), pair_str(dilation),
           s.in_h, s.in_w);
  if (bias.defined())
    GN_CHECK(bias.shape() == Shape{s.in_channels}, "conv_transpose2d: bias has shape {}, expected ({},) for weight {}",
             to_string(bias.shape()), s.in_channels, to_string(weight.shape()));

  Tensor y = Tensor::empty({s.batch, s.in_channels, s.in_h, s.in_w}, x.dtype(), x.device());
  dispatch_float(x, op, [&](auto z) {
    using T = decltype(z);
    dispatch::conv2d_backward_data<T>(x.device(), s, x.data<T>(), weight.data<T>(), y.data<T>());
  });
  Tensor out = record(
      y, op, {x, weight},
      [x = x.detach(), w = weight.detach(), s, nx = x.requires_grad(), nw = weight.requires_grad()](const Tensor& g) {
        std::vector<Tensor> grads(2);
        dispatch_float(g, "conv_transpose2d backward", [&](auto z) {
          using T = decltype(z);
          if (nx) {  // the convolution of g
            grads[0] = Tensor::empty(x.shape(), g.dtype(), g.device());
            dispatch::conv2d_forward<T>(g.device(), s, g.data<T>(), w.data<T>(), nullptr, grads[0].data<T>());
          }
          if (nw) {  // backward-filter with g as the convolution's input and x as its output gradient
            grads[1] = Tensor::empty(w.shape(), g.dtype(), g.device());
            dispatch::conv2d_backward_filter<T>(g.device(), s, g.data<T>(), x.data<T>(), grads[1].data<T>(), nullptr);
          }
        });
        return grads;
      });
  // The bias as a broadcast add: its gradient is the per-channel sum of g, from add's backward.
  return bias.defined() ? add(out, bias.reshape({1, s.in_channels, 1, 1})) : out;
}

}  // namespace gn
