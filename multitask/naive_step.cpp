#include "multitask/naive_step.h"

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace gn::multitask {

StepStats naive_step(MultitaskModel& model, LossWeighting& weighting, nn::Optimizer& optimizer, const Tensor& x,
                     std::span<const Tensor> targets, std::int64_t step_index) {
  const int T = model.num_tasks();
  const Device dev = x.device();
  weighting.to(dev, x.dtype());
  StepStats stats;
  stats.step = step_index;
  stats.weights = weighting.read_weights();
  const auto params = model.parameters();
  const auto shared_params = model.shared().parameters();
  std::vector<std::vector<Tensor>> per_task_grads(T);  // [task][param]
  std::vector<double> sq_norms(T);
  for (int i = 0; i < T; ++i) {
    model.zero_grad();
    const Tensor loss = model.task(i).loss.fn(model.forward_all(x)[i], targets[i]);
    stats.losses.push_back(loss.item());
    backward(loss);
    for (const auto& p : params) per_task_grads[i].push_back(p.grad().defined() ? p.grad().clone() : Tensor());
    double sq = 0;
    const std::size_t used = weighting.norms_over_weight_only() ? 1 : shared_params.size();
    for (std::size_t k = 0; k < used; ++k)
      for (double v : shared_params[k].grad().to_vector()) sq += v * v;
    stats.grad_norms.push_back(std::sqrt(sq));
    stats.weighted_norms.push_back(stats.weights[i] * std::sqrt(sq));
    sq_norms[i] = stats.weighted_norms[i] * stats.weighted_norms[i];
    stats.total_loss += stats.weights[i] * stats.losses[i];
  }
  if (!weighting.needs_grad_norms()) {
    stats.grad_norms.clear();
    stats.weighted_norms.clear();
  }
  const Tensor losses = Tensor::from_vector(stats.losses, {T}, DType::Float64, dev);
  const Tensor sq = Tensor::from_vector(sq_norms, {T}, DType::Float64, dev);
  weighting.update({step_index, losses, weighting.needs_grad_norms() ? sq : Tensor(), Tensor()});
  weighting.check_health();
  stats.next_weights = weighting.read_weights();
  stats.diagnostics = weighting.read_diagnostics();
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
