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

#include "kernels/gradnorm_update_state.h"

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

// The gradient of the parameter the weights' optimizer steps (kernels/gradnorm_update_state.h, step 4):
// Linear: dLgrad/dw; Log (s = log w): w_i dLgrad/dw_i; Softmax (w = T softmax(s)):
// w_j dLgrad/dw_j - (w_j / T) sum_i w_i dLgrad/dw_i. weights, weight_grad: (T); param_grad: (T), overwritten.
void gradnorm_param_grad(int num_tasks, GradNormParam param, const double* weights, const double* weight_grad,
                         double* param_grad);

// Keeps every weight strictly positive and the sum equal to T: w_i <- max(w_i, min_weight), then
// w_i <- w_i * T / sum_j w_j. Non-finite weights are an error (thrown).
template <class T>
void renormalize_weights(int num_tasks, T* w, double min_weight);

// The whole update of kernels/gradnorm_update_state.h, one call per training step. losses: (T) L_i(t);
// norms: (T) G_i, or G_i^2 with options.squared_norms; norm_flags: (T) non-finite flags of the norm
// reduction, or nullptr; update: this update's 1-based count; weights_out: (T) w in the model's dtype,
// overwritten on success. Bad numbers never throw: they set *b.status and commit nothing (the CUDA twin
// cannot throw, and both must behave alike); bad arguments (T, update) do throw.
template <class W>
void gradnorm_update(int num_tasks, const double* losses, const double* norms, const int* norm_flags,
                     const GradNormBuffers& b, W* weights_out, const GradNormUpdateOptions& options,
                     std::int64_t update);

}  // namespace gn::cpu
