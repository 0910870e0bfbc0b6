#pragma once
// The GradNorm weight update's options, state and outputs as plain pointers, shared by the CPU kernel
// (kernels/cpu/gradnorm_update.h) and the CUDA kernel (kernels/cuda/gradnorm_update.h). The caller owns
// the memory (host memory for the CPU, device memory for CUDA), so a run carries the same state on
// either device and a checkpoint saves it the same way.
//
// One update, given L_i(t), G_i (or G_i^2) and the state, in this order and in double precision:
//   1. G_i = sqrt(G_i^2) when the norms are squared; any non-finite loss, norm or norm flag: status 1.
//   2. L_i(0): while update <= initial_loss_steps, L_i(0) = (sum of the losses so far) / update (the
//      "first-step" rule is initial_loss_steps = 1); losses must then be finite and > 0, else status 3.
//      initial_loss_steps = 0: L_i(0) is given and never changes.
//   3. Ltilde_i = L_i / L_i(0), r_i = Ltilde_i / mean(Ltilde), target_i = mean(G) r_i^alpha,
//      Lgrad = sum |G_i - target_i|, dLgrad/dw_i = sign(G_i - target_i) G_i / w_i (sign(0) = 0).
//   4. One step of the weights' optimizer: Adam (weight decay 0, `update` is its 1-based count) or plain
//      SGD (w -= lr dLgrad/dw); a non-finite stepped weight: status 2.
//   5. w_i <- max(w_i, min_weight), then w_i <- w_i T / sum_j w_j.
// A failed update (status != 0) commits nothing: w, L_i(0), the loss sum and Adam's moments are left as
// they were; the outputs it got to are written. A failure is sticky: while *status != 0 an update returns
// at once, so a host that reads status only now and then (CUDA, on logging steps) still sees the first
// failure, and a failed update inside the L_i(0) window cannot skew the mean. Sums run in task order, so
// both backends agree to the last bits of pow and fused multiply-adds.
// `update` is an argument, not device state: a CUDA graph that captured one update would replay that
// update's count (not a concern today: nothing captures graphs yet).
#include <cstdint>

namespace gn {

enum GradNormStatus : std::int64_t {
  kGradNormOk = 0,
  kGradNormNonFiniteInput = 1,   // a loss, a norm or a norm's non-finite flag
  kGradNormNonFiniteWeight = 2,  // w after the optimizer step
  kGradNormBadInitialLoss = 3,   // a loss recorded into L_i(0) is not finite and > 0
};

enum class GradNormOptimizer : int { Adam, Sgd };

struct GradNormUpdateOptions {
  double alpha = 1.5;  // asymmetry
  GradNormOptimizer optimizer = GradNormOptimizer::Adam;
  double lr = 0.025;  // the paper's weight learning rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double min_weight = 1e-4;    // floor before renormalising
  int initial_loss_steps = 1;  // L_i(0) = mean of the first K updates' losses; 0: given and fixed
  bool squared_norms = true;   // norms hold G_i^2 (per_task_sq_norms' output) instead of G_i
};

// Pointers to T entries each unless noted. State persists across updates; outputs are overwritten.
struct GradNormBuffers {
  // state
  double* weights;           // w_i (float64 master copy), updated in place
  double* initial_losses;    // L_i(0)
  double* initial_loss_sum;  // the sum of the losses recorded into L_i(0) so far
  double* adam_m;            // Adam's moments (unused by SGD)
  double* adam_v;
  // outputs of the last update
  double* loss_ratio;       // Ltilde_i
  double* inverse_rate;     // r_i
  double* target;           // mean(G) r_i^alpha
  double* weight_grad;      // dLgrad/dw_i
  double* weights_stepped;  // w after the optimizer step, before the floor and renormalisation
  double* norms;            // G_i
  double* lgrad;            // (1) Lgrad
  std::int64_t* status;     // (1) GradNormStatus
};

// The state block as one array: 5 state arrays, then 6 output arrays, then lgrad; status apart (int64).
// Owners allocate gradnorm_state_doubles(T) doubles and call gradnorm_buffers on them.
inline constexpr std::int64_t gradnorm_state_doubles(int num_tasks) { return 11 * std::int64_t{num_tasks} + 1; }
inline GradNormBuffers gradnorm_buffers(int num_tasks, double* block, std::int64_t* status) {
  auto a = [&](int k) { return block + std::int64_t{k} * num_tasks; };
  return {a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10), a(11), status};
}

}  // namespace gn
