#include "kernels/cpu/gradnorm_update.h"

#include <cmath>

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

}  // namespace gn::cpu
