// Elementwise unary ops; each backward is one kernel that reads x and/or y = f(x).
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace gn {
namespace {

Tensor unary_op(const Tensor& x, UnaryOp op, const char* name, double p = 0) {
  check_floating(x, name);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  GN_DISPATCH_FLOAT(x.dtype(), name, [&] {
    dispatch::unary<scalar_t>(x.device(), op, x.numel(), x.data<scalar_t>(), y.data<scalar_t>(),
                              static_cast<scalar_t>(p));
  });
  return record(y, name, {x}, [x = x.detach(), y = y.detach(), op, name, p](const Tensor& g) {
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    GN_DISPATCH_FLOAT(x.dtype(), name, [&] {
      dispatch::unary_backward<scalar_t>(x.device(), op, x.numel(), x.data<scalar_t>(), y.data<scalar_t>(),
                                         g.data<scalar_t>(), gx.data<scalar_t>(), static_cast<scalar_t>(p));
    });
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor neg(const Tensor& x) { return unary_op(x, UnaryOp::Neg, "neg"); }
Tensor exp(const Tensor& x) { return unary_op(x, UnaryOp::Exp, "exp"); }
Tensor log(const Tensor& x) { return unary_op(x, UnaryOp::Log, "log"); }
Tensor sqrt(const Tensor& x) { return unary_op(x, UnaryOp::Sqrt, "sqrt"); }
Tensor abs(const Tensor& x) { return unary_op(x, UnaryOp::Abs, "abs"); }
Tensor pow(const Tensor& x, double p) { return unary_op(x, UnaryOp::Pow, "pow", p); }
Tensor relu(const Tensor& x) { return unary_op(x, UnaryOp::Relu, "relu"); }
Tensor tanh(const Tensor& x) { return unary_op(x, UnaryOp::Tanh, "tanh"); }
Tensor sigmoid(const Tensor& x) { return unary_op(x, UnaryOp::Sigmoid, "sigmoid"); }

}  // namespace gn
