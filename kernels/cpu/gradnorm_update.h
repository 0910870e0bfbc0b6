#pragma once
// The GradNorm weight gradient in closed form (GradNorm step 5), CPU reference.
//
// With G_i = w_i g_i (g_i = ||grad_W L_i||, w_i > 0) and targets held constant,
//   Lgrad = sum_i |G_i - target_i|,   target_i = mean_j(G_j) * r_i^alpha,
//   r_i = Ltilde_i / mean_j(Ltilde_j),   Ltilde_i = L_i / L_i(0),
// the derivative is exact and needs no second-order graph:
//   dLgrad/dw_i = sign(G_i - target_i) * dG_i/dw_i = sign(G_i - target_i) * g_i.
// (sign(0) = 0: a task exactly on target gets no push.)
#include <cstdint>
#include <vector>

#include "kernels/cpu/optim.h"

namespace gn::cpu {

struct GradNormTerms {   // each array has T entries; all outputs overwrite
  double* loss_ratio;    // Ltilde_i
  double* inverse_rate;  // r_i
  double* target;        // mean(G) * r_i^alpha
  double* weight_grad;   // dLgrad/dw_i
};

// losses, initial_losses: L_i(t), L_i(0); weighted_norms: G_i; weights: w_i (> 0). Returns Lgrad.
double gradnorm_weight_grad(int num_tasks, const double* losses, const double* initial_losses,
                            const double* weighted_norms, const double* weights, double alpha, GradNormTerms out);

// Keeps every weight strictly positive and the sum equal to T: w_i <- max(w_i, min_weight), then
// w_i <- w_i * T / sum_j w_j. Non-finite weights are an error (thrown).
template <class T>
void renormalize_weights(int num_tasks, T* w, double min_weight);

// The CPU reference of the whole device update (kernels/cuda/gradnorm_update.cu), step by step as
// multitask/gradnorm.cpp does it: L_i(0) from the first call, the closed-form gradient, one Adam step on
// w (weight decay 0), floor and renormalise. Keeps Adam's state and the last step's terms for checks.
// Options: anything with alpha, lr, beta1, beta2, eps, min_weight (e.g. cuda::GradNormUpdateOptions).
struct GradNormReference {
  int T;
  std::vector<double> L0, m, v, ratio, rate, target, dw;
  double lgrad = 0;
  explicit GradNormReference(int tasks)
      : T(tasks), m(tasks, 0.0), v(tasks, 0.0), ratio(tasks), rate(tasks), target(tasks), dw(tasks) {}
  // losses L_i(t), norms G_i, weights updated in place; step: Adam's 1-based count.
  template <class W, class Options>
  void step(const std::vector<double>& L, const std::vector<double>& G, std::vector<W>& w, const Options& o,
            std::int64_t step) {
    if (L0.empty()) L0 = L;
    std::vector<double> wd(w.begin(), w.end());
    lgrad = gradnorm_weight_grad(T, L.data(), L0.data(), G.data(), wd.data(), o.alpha,
                                 {ratio.data(), rate.data(), target.data(), dw.data()});
    adam_step<double>(T, wd.data(), dw.data(), m.data(), v.data(), o.lr, o.beta1, o.beta2, o.eps, 0.0, step);
    renormalize_weights<double>(T, wd.data(), o.min_weight);
    for (int i = 0; i < T; ++i) w[i] = static_cast<W>(wd[i]);
  }
};

}  // namespace gn::cpu
