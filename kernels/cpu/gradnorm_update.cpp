#include "kernels/cpu/gradnorm_update.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/optim.h"
#include "kernels/error.h"

namespace gn::cpu {

double gradnorm_weight_grad(int num_tasks, const double* losses, const double* initial_losses,
                            const double* weighted_norms, const double* weights, double alpha, GradNormTerms out) {
  double mean_ratio = 0, mean_norm = 0;
  for (int i = 0; i < num_tasks; ++i) {
    out.loss_ratio[i] = losses[i] / initial_losses[i];
    mean_ratio += out.loss_ratio[i] / num_tasks;
    mean_norm += weighted_norms[i] / num_tasks;
  }
  double lgrad = 0;
  for (int i = 0; i < num_tasks; ++i) {
    out.inverse_rate[i] = out.loss_ratio[i] / mean_ratio;
    out.target[i] = mean_norm * std::pow(out.inverse_rate[i], alpha);
    const double diff = weighted_norms[i] - out.target[i];
    lgrad += std::abs(diff);
    const double g = weighted_norms[i] / weights[i];  // the unweighted norm g_i
    out.weight_grad[i] = diff > 0 ? g : (diff < 0 ? -g : 0.0);
  }
  return lgrad;
}

void gradnorm_param_grad(int num_tasks, GradNormParam param, const double* weights, const double* weight_grad,
                         double* param_grad) {
  if (param == GradNormParam::Linear) {
    std::copy_n(weight_grad, num_tasks, param_grad);
    return;
  }
  double coupling = 0;  // Softmax: sum_i w_i dLgrad/dw_i, in task order; Log: 0
  if (param == GradNormParam::Softmax)
    for (int i = 0; i < num_tasks; ++i) coupling += weights[i] * weight_grad[i];
  for (int i = 0; i < num_tasks; ++i) param_grad[i] = weights[i] * weight_grad[i] - (weights[i] / num_tasks) * coupling;
}

template <class T>
void renormalize_weights(int num_tasks, T* w, double min_weight) {
  double total = 0;
  for (int i = 0; i < num_tasks; ++i) {
    GN_CHECK(std::isfinite(static_cast<double>(w[i])), "renormalize_weights: weight {} is {}", i,
             static_cast<double>(w[i]));
    w[i] = std::max(w[i], static_cast<T>(min_weight));
    total += static_cast<double>(w[i]);
  }
  for (int i = 0; i < num_tasks; ++i) w[i] = static_cast<T>(static_cast<double>(w[i]) * num_tasks / total);
}

template void renormalize_weights<float>(int, float*, double);
template void renormalize_weights<double>(int, double*, double);

template <class W>
void gradnorm_update(int num_tasks, const double* losses, const double* norms, const int* norm_flags,
                     const GradNormBuffers& b, W* weights_out, const GradNormUpdateOptions& o, std::int64_t update) {
  GN_CHECK(num_tasks >= 1, "gradnorm_update: needs at least one task, got {}", num_tasks);
  GN_CHECK(update >= 1, "gradnorm_update: update must be >= 1 (Adam's bias correction), got {}", update);
  GN_CHECK(
      losses != nullptr && norms != nullptr && weights_out != nullptr && b.weights != nullptr && b.status != nullptr,
      "gradnorm_update: null pointer");
  GN_CHECK(std::isfinite(o.alpha) && o.lr > 0 && o.min_weight > 0 && o.initial_loss_steps >= 0,
           "gradnorm_update: bad options alpha={} lr={} min_weight={} initial_loss_steps={}", o.alpha, o.lr,
           o.min_weight, o.initial_loss_steps);
  GN_CHECK(o.param == GradNormParam::Linear || o.param == GradNormParam::Log || o.param == GradNormParam::Softmax,
           "gradnorm_update: unknown weight parameterisation {}", static_cast<int>(o.param));
  if (*b.status != kGradNormOk) return;  // a failure is sticky (see gradnorm_update_state.h)
  const int T = num_tasks;
  const auto n = static_cast<std::size_t>(T);
  // 1. Norms and the finiteness of the inputs.
  bool bad = false;
  for (int i = 0; i < T; ++i) {
    b.norms[i] = o.squared_norms ? std::sqrt(norms[i]) : norms[i];
    bad |= !std::isfinite(losses[i]) || !std::isfinite(b.norms[i]) || (norm_flags != nullptr && norm_flags[i] != 0);
  }
  if (bad) {
    *b.status = kGradNormNonFiniteInput;
    return;
  }
  // 2. L_i(0), into temporaries: nothing is committed before the update is known to succeed.
  std::vector<double> l0(b.initial_losses, b.initial_losses + T), sum(b.initial_loss_sum, b.initial_loss_sum + T);
  if (o.initial_loss_steps > 0 && update <= o.initial_loss_steps) {
    for (int i = 0; i < T; ++i) {
      if (!(std::isfinite(losses[i]) && losses[i] > 0)) {
        *b.status = kGradNormBadInitialLoss;
        return;
      }
      sum[i] += losses[i];
      l0[i] = sum[i] / static_cast<double>(update);
    }
  }
  // 3. The closed-form weight gradient.
  *b.lgrad = gradnorm_weight_grad(T, losses, l0.data(), b.norms, b.weights, o.alpha,
                                  {b.loss_ratio, b.inverse_rate, b.target, b.weight_grad});
  // 4. The gradient of the optimised parameter p, and the weights' optimizer on copies of p and the moments.
  const bool linear = o.param == GradNormParam::Linear;
  gradnorm_param_grad(T, o.param, b.weights, b.weight_grad, b.param_grad);
  std::vector<double> p(linear ? b.weights : b.params, (linear ? b.weights : b.params) + T);
  std::vector<double> m(b.adam_m, b.adam_m + T), v(b.adam_v, b.adam_v + T);
  if (o.optimizer == GradNormOptimizer::Adam)
    adam_step<double>(T, p.data(), b.param_grad, m.data(), v.data(), o.lr, o.beta1, o.beta2, o.eps, 0.0, update);
  else
    sgd_step<double>(T, p.data(), b.param_grad, nullptr, o.lr, 0.0, 0.0, false);
  if (!std::all_of(p.begin(), p.end(), [](double x) { return std::isfinite(x); })) {
    if (linear) std::copy(p.begin(), p.end(), b.weights_stepped);
    *b.status = kGradNormNonFiniteWeight;
    return;
  }
  // 5. p -> w: Linear floors (counting) and renormalises; Log and Softmax map through exp.
  std::vector<double> w(n), s(b.params, b.params + T);
  double hits = *b.floor_hits;
  if (linear) {
    std::copy(p.begin(), p.end(), b.weights_stepped);
    for (int i = 0; i < T; ++i) hits += p[i] < o.min_weight ? 1 : 0;
    w = p;
    renormalize_weights<double>(T, w.data(), o.min_weight);
  } else {
    const double top = *std::max_element(p.begin(), p.end());
    double total = 0;
    for (int i = 0; i < T; ++i) {
      w[i] = std::exp(p[i] - top);
      total += w[i];
    }
    bool underflow = false;
    for (int i = 0; i < T; ++i) {
      w[i] = w[i] * T / total;
      underflow |= !(w[i] > 0);
      b.weights_stepped[i] = o.param == GradNormParam::Log ? std::exp(p[i]) : w[i];
      s[i] = o.param == GradNormParam::Log ? std::log(w[i]) : p[i];
    }
    if (underflow) {
      *b.status = kGradNormNonFiniteWeight;
      return;
    }
  }
  // Commit.
  std::copy_n(w.begin(), n, b.weights);
  std::copy_n(m.begin(), n, b.adam_m);
  std::copy_n(v.begin(), n, b.adam_v);
  std::copy_n(s.begin(), n, b.params);
  *b.floor_hits = hits;
  std::copy_n(l0.begin(), n, b.initial_losses);
  std::copy_n(sum.begin(), n, b.initial_loss_sum);
  for (int i = 0; i < T; ++i) weights_out[i] = static_cast<W>(w[i]);
  *b.status = kGradNormOk;
}

template void gradnorm_update<float>(int, const double*, const double*, const int*, const GradNormBuffers&, float*,
                                     const GradNormUpdateOptions&, std::int64_t);
template void gradnorm_update<double>(int, const double*, const double*, const int*, const GradNormBuffers&, double*,
                                      const GradNormUpdateOptions&, std::int64_t);

}  // namespace gn::cpu
