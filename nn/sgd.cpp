#include "nn/sgd.h"

#include <cmath>
#include <string>

#include "core/dispatch.h"

namespace gn::nn {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay)
    : Optimizer("SGD", std::move(params), lr), momentum_(momentum), weight_decay_(weight_decay) {
  GN_CHECK(std::isfinite(momentum) && momentum >= 0, "SGD: momentum must be >= 0, got {}", momentum);
  GN_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, "SGD: weight_decay must be >= 0, got {}", weight_decay);
  if (momentum_ > 0) {
    for (const auto& p : this->params()) buffers_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
  started_.assign(this->params().size(), false);
}

void SGD::step() {
  const auto& ps = params();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    if (!has_grad_to_apply(i, "sgd")) continue;
    const Tensor& p = ps[i];
    const Tensor g = p.grad();
    GN_DISPATCH_FLOAT(p.dtype(), "SGD", [&] {
      dispatch::sgd_step<scalar_t>(p.device(), p.numel(), p.data<scalar_t>(), g.data<scalar_t>(),
                                   buffers_.empty() ? nullptr : buffers_[i].data<scalar_t>(),
                                   static_cast<scalar_t>(lr()), static_cast<scalar_t>(momentum_),
                                   static_cast<scalar_t>(weight_decay_), !started_[i]);
    });
    started_[i] = true;
  }
}

void SGD::append_state(StateDict& out) const {
  for (std::size_t i = 0; i < params().size(); ++i) {
    if (!buffers_.empty()) out.emplace_back(std::to_string(i) + ".momentum_buffer", buffers_[i]);
    out.emplace_back(std::to_string(i) + ".started", state_count(started_[i] ? 1 : 0));
  }
}

void SGD::load_numbers(const std::vector<Tensor>& in) {
  const std::size_t stride = buffers_.empty() ? 1 : 2;  // entries per parameter, as appended above
  std::vector<bool> started(params().size());
  for (std::size_t i = 0; i < started.size(); ++i) {
    const std::int64_t s = read_count(in[i * stride + stride - 1]);
    GN_CHECK(s == 0 || s == 1, "SGD: load_state_dict: nothing loaded: entry '{}.started' is {}, must be 0 or 1", i, s);
    started[i] = s == 1;
  }
  started_ = std::move(started);
}

}  // namespace gn::nn
