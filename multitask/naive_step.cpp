#include "multitask/naive_step.h"

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace gn::multitask {

StepStats naive_step(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer, const Tensor& x,
                     std::span<const Tensor> targets, std::int64_t step_index) {
  const int T = model.num_tasks();
  StepStats stats;
  stats.step = step_index;
  stats.weights = weighting.weights();
  const auto params = model.parameters();
  std::vector<std::vector<Tensor>> per_task_grads(T);  // [task][param]
  for (int i = 0; i < T; ++i) {
    model.zero_grad();
    const Tensor loss = mse_loss(model.forward_all(x)[i], targets[i]);
    stats.losses.push_back(loss.item());
    backward(loss);
    for (const auto& p : params) per_task_grads[i].push_back(p.grad().defined() ? p.grad().clone() : Tensor());
    double sq = 0;
    for (const Tensor* g : {&model.shared().weight, &model.shared().bias})
      if (g->defined())
        for (double v : g->grad().to_vector()) sq += v * v;
    stats.grad_norms.push_back(std::sqrt(sq));
    stats.weighted_norms.push_back(stats.weights[i] * std::sqrt(sq));
    stats.total_loss += stats.weights[i] * stats.losses[i];
  }
  if (!weighting.needs_grad_norms()) {
    stats.grad_norms.clear();
    stats.weighted_norms.clear();
  }
  weighting.update(stats);
  // Network gradient: sum_i w_i(t) grad L_i, then the optimizer step.
  for (std::size_t k = 0; k < params.size(); ++k) {
    Tensor total;
    for (int i = 0; i < T; ++i) {
      const Tensor& g = per_task_grads[i][k];
      if (!g.defined()) continue;
      const Tensor term = mul(g, stats.weights[i]);
      total = total.defined() ? add(total, term) : term;
    }
    Tensor p = params[k];
    p.set_grad(total.defined() ? total : Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
  optimizer.step();
  return stats;
}

}  // namespace gn::multitask
