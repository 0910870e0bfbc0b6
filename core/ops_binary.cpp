// Broadcasting elementwise add/sub/mul/div and their in-place, history-free variants.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace gn {
namespace {

// Element strides of a contiguous tensor of `in` shape read as the broadcast `out` shape (0 on broadcast axes).
std::vector<std::int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<std::int64_t> strides(out.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t k = 0; k < in.size(); ++k) {
    const std::size_t in_axis = in.size() - 1 - k, out_axis = out.size() - 1 - k;
    strides[out_axis] = in[in_axis] == 1 ? 0 : stride;
    stride *= in[in_axis];
  }
  return strides;
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_same_dtype_device(a, b, name);
  check_floating(a, name);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  const auto as = broadcast_strides(a.shape(), out_shape), bs = broadcast_strides(b.shape(), out_shape);
  GN_DISPATCH_FLOAT(a.dtype(), name, [&] {
    dispatch::binary<scalar_t>(a.device(), op, a.data<scalar_t>(), as, b.data<scalar_t>(), bs, out.data<scalar_t>(),
                               out_shape);
  });
  return out;
}

// The gradient of a broadcast operand: g summed over the axes along which `shape` was broadcast.
Tensor sum_to(Tensor g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::size_t lead = g.shape().size() - shape.size();
  if (numel(shape) == 0 || g.numel() == 0) return Tensor::zeros(shape, g.dtype(), g.device());
  if (lead > 0) {  // sum away the leading axes that `shape` lacks
    const Shape rest(g.shape().begin() + static_cast<std::ptrdiff_t>(lead), g.shape().end());
    g = sum(g.reshape({-1, numel(rest)}), 0).reshape(rest);
  }
  for (std::size_t k = 0; k < shape.size(); ++k)
    if (shape[k] == 1 && g.shape()[k] != 1) g = sum(g, static_cast<std::int64_t>(k), /*keepdim=*/true);
  return g;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, a, b, "add");
  return record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, a, b, "sub");
  return record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape(), nb = b.requires_grad()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), nb ? sum_to(neg(g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b, "mul");
  return record(out, "mul", {a, b},
                [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
                  return std::vector<Tensor>{na ? sum_to(mul(g, b), a.shape()) : Tensor(),
                                             nb ? sum_to(mul(g, a), b.shape()) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b, "div");
  return record(out, "div", {a, b},
                [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
                  // d(a/b)/da = 1/b;  d(a/b)/db = -a/b^2
                  return std::vector<Tensor>{na ? sum_to(div(g, b), a.shape()) : Tensor(),
                                             nb ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor()};
                });
}

Tensor add(const Tensor& a, double b) { return add(a, Tensor::scalar(b, a.dtype(), a.device())); }
Tensor mul(const Tensor& a, double b) { return mul(a, Tensor::scalar(b, a.dtype(), a.device())); }

// ---- in place, history-free ----

namespace {
void check_inplace(const Tensor& a, const Tensor& b, const char* op) {
  check_same_dtype_device(a, b, op);
  check_floating(a, op);
  GN_CHECK(a.shape() == b.shape(), "{}: shapes {} and {} differ (in-place ops do not broadcast)", op,
           to_string(a.shape()), to_string(b.shape()));
}
}  // namespace

void add_(Tensor& a, const Tensor& b) { axpy_(a, 1.0, b); }

void axpy_(Tensor& a, double alpha, const Tensor& b) {
  check_inplace(a, b, "axpy_");
  GN_DISPATCH_FLOAT(a.dtype(), "axpy_", [&] {
    dispatch::axpy<scalar_t>(a.device(), a.numel(), static_cast<scalar_t>(alpha), b.data<scalar_t>(),
                             a.data<scalar_t>());
  });
}

void scale_(Tensor& a, double s) {
  check_floating(a, "scale_");
  GN_DISPATCH_FLOAT(a.dtype(), "scale_", [&] {
    dispatch::scale<scalar_t>(a.device(), a.numel(), static_cast<scalar_t>(s), a.data<scalar_t>());
  });
}

}  // namespace gn
