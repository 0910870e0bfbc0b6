#include "nn/adam.h"

#include <cmath>
#include <string>

#include "core/dispatch.h"

namespace gn::nn {

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Optimizer("Adam", std::move(params), lr), beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay) {
  // beta = 1 would never forget the zero initial moments and make the bias correction divide by 0.
  GN_CHECK(beta1 >= 0 && beta1 < 1, "Adam: beta1 must be in [0, 1), got {}", beta1);
  GN_CHECK(beta2 >= 0 && beta2 < 1, "Adam: beta2 must be in [0, 1), got {}", beta2);
  GN_CHECK(std::isfinite(eps) && eps >= 0, "Adam: eps must be >= 0, got {}", eps);
  GN_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, "Adam: weight_decay must be >= 0, got {}", weight_decay);
  for (const auto& p : this->params()) {
    m_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    v_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
  steps_.assign(this->params().size(), 0);
}

void Adam::step() {
  const auto& ps = params();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    if (!has_grad_to_apply(i, "adam")) continue;
    const Tensor& p = ps[i];
    const Tensor g = p.grad();
    const std::int64_t t = steps_[i] + 1;
    GN_DISPATCH_FLOAT(p.dtype(), "Adam", [&] {
      dispatch::adam_step<scalar_t>(p.device(), p.numel(), p.data<scalar_t>(), g.data<scalar_t>(),
                                    m_[i].data<scalar_t>(), v_[i].data<scalar_t>(), static_cast<scalar_t>(lr()),
                                    static_cast<scalar_t>(beta1_), static_cast<scalar_t>(beta2_),
                                    static_cast<scalar_t>(eps_), static_cast<scalar_t>(weight_decay_), t);
    });
    steps_[i] = t;
  }
}

void Adam::append_state(StateDict& out) const {
  for (std::size_t i = 0; i < params().size(); ++i) {
    const std::string prefix = std::to_string(i) + ".";
    out.emplace_back(prefix + "exp_avg", m_[i]);
    out.emplace_back(prefix + "exp_avg_sq", v_[i]);
    out.emplace_back(prefix + "step", state_count(steps_[i]));
  }
}

void Adam::load_numbers(const std::vector<Tensor>& in) {
  std::vector<std::int64_t> steps(params().size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    steps[i] = read_count(in[3 * i + 2]);  // exp_avg, exp_avg_sq, step per parameter, as appended above
    GN_CHECK(steps[i] >= 0, "Adam: load_state_dict: nothing loaded: entry '{}.step' is {}, must be >= 0", i, steps[i]);
  }
  steps_ = std::move(steps);
}

}  // namespace gn::nn
