// Elementwise unary ops; each backward is one kernel that reads x and/or y = f(x).
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/elementwise.h"

namespace gn {
namespace {

Tensor unary_op(const Tensor& x, cpu::UnaryOp op, const char* name, double p = 0) {
  check_floating(x, name);
  if (backend_of(x) == Backend::CUDA) no_cuda_kernel(name);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  GN_DISPATCH_FLOAT(x.dtype(), name, [&] {
    cpu::unary<scalar_t>(op, x.numel(), x.data<scalar_t>(), y.data<scalar_t>(), static_cast<scalar_t>(p));
  });
  return record(y, name, {x}, [x = x.detach(), y = y.detach(), op, name, p](const Tensor& g) {
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    GN_DISPATCH_FLOAT(x.dtype(), name, [&] {
      cpu::unary_backward<scalar_t>(op, x.numel(), x.data<scalar_t>(), y.data<scalar_t>(), g.data<scalar_t>(),
                                    gx.data<scalar_t>(), static_cast<scalar_t>(p));
    });
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor neg(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Neg, "neg"); }
Tensor exp(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Exp, "exp"); }
Tensor log(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Log, "log"); }
Tensor sqrt(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Sqrt, "sqrt"); }
Tensor abs(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Abs, "abs"); }
Tensor pow(const Tensor& x, double p) { return unary_op(x, cpu::UnaryOp::Pow, "pow", p); }
Tensor relu(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Relu, "relu"); }
Tensor tanh(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Tanh, "tanh"); }
Tensor sigmoid(const Tensor& x) { return unary_op(x, cpu::UnaryOp::Sigmoid, "sigmoid"); }

}  // namespace gn
