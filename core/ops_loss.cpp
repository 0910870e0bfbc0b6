// MSE and cross-entropy, each a fused forward and a fused backward kernel.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace gn {

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_same_dtype_device(pred, target, "mse_loss");
  check_floating(pred, "mse_loss");
  GN_CHECK(pred.shape() == target.shape(), "mse_loss: prediction {} and target {} differ in shape",
           to_string(pred.shape()), to_string(target.shape()));
  GN_CHECK(pred.numel() > 0, "mse_loss: prediction of shape {} is empty", to_string(pred.shape()));
  Tensor out = Tensor::empty({}, pred.dtype(), pred.device());
  GN_DISPATCH_FLOAT(pred.dtype(), "mse_loss", [&] {
    dispatch::mse<scalar_t>(pred.device(), pred.numel(), pred.data<scalar_t>(), target.data<scalar_t>(),
                            out.data<scalar_t>());
  });
  return record(out, "mse_loss", {pred, target},
                [p = pred.detach(), t = target.detach(), np = pred.requires_grad(),
                 nt = target.requires_grad()](const Tensor& g) {
                  Tensor gp = Tensor::empty(p.shape(), p.dtype(), p.device());
                  GN_DISPATCH_FLOAT(p.dtype(), "mse_loss backward", [&] {
                    dispatch::mse_backward<scalar_t>(p.device(), p.numel(), p.data<scalar_t>(), t.data<scalar_t>(),
                                                     g.data<scalar_t>(), gp.data<scalar_t>());
                  });
                  return std::vector<Tensor>{np ? gp : Tensor(), nt ? neg(gp) : Tensor()};
                });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, std::int64_t ignore_index) {
  check_floating(logits, "cross_entropy");
  check_defined(labels, "cross_entropy", "labels");
  GN_CHECK(labels.dtype() == DType::Int64, "cross_entropy: labels must be int64, got {}", dtype_name(labels.dtype()));
  GN_CHECK(logits.device() == labels.device(), "cross_entropy: logits on {} but labels on {}",
           to_string(logits.device()), to_string(labels.device()));
  const Shape& ls = logits.shape();
  Shape expect_labels = ls;
  if (ls.size() >= 2) expect_labels.erase(expect_labels.begin() + 1);
  GN_CHECK(ls.size() >= 2 && labels.shape() == expect_labels,
           "cross_entropy: logits {} need labels of shape {} (logits are (N, C) or (N, C, d1, ...)), got {}",
           to_string(ls), ls.size() >= 2 ? to_string(expect_labels) : "(N, ...)", to_string(labels.shape()));
  const std::int64_t N = ls[0], C = ls[1], S = logits.numel() / std::max<std::int64_t>(N * C, 1);
  Tensor out = Tensor::empty({}, logits.dtype(), logits.device());
  // The number of counted positions stays where the loss is (device memory on CUDA) for the backward.
  Tensor counted = Tensor::empty({}, DType::Int64, logits.device());
  GN_DISPATCH_FLOAT(logits.dtype(), "cross_entropy", [&] {
    dispatch::cross_entropy<scalar_t>(logits.device(), N, C, S, logits.data<scalar_t>(), labels.data<std::int64_t>(),
                                      ignore_index, out.data<scalar_t>(), counted.data<std::int64_t>());
  });
  return record(
      out, "cross_entropy", {logits}, [z = logits.detach(), labels, ignore_index, N, C, S, counted](const Tensor& g) {
        Tensor gz = Tensor::empty(z.shape(), z.dtype(), z.device());
        GN_DISPATCH_FLOAT(z.dtype(), "cross_entropy backward", [&] {
          dispatch::cross_entropy_backward<scalar_t>(z.device(), N, C, S, z.data<scalar_t>(),
                                                     labels.data<std::int64_t>(), ignore_index, g.data<scalar_t>(),
                                                     counted.data<std::int64_t>(), gz.data<scalar_t>());
        });
        return std::vector<Tensor>{gz};
      });
}

}  // namespace gn
