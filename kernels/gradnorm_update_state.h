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
//   4. The gradient of the optimised parameter p (GradNormParam), then one step of the weights' optimizer
//      on p: Adam (weight decay 0, `update` is its 1-based count) or plain SGD (p -= lr dLgrad/dp):
//        Linear:  p = w,  dLgrad/dp_i = dLgrad/dw_i
//        Log:     p = s = log w,  dLgrad/ds_i = w_i dLgrad/dw_i
//        Softmax: p = s, w = T softmax(s),  dLgrad/ds_j = w_j dLgrad/dw_j - (w_j / T) sum_i w_i dLgrad/dw_i
//      A non-finite stepped parameter: status 2.
//   5. p -> w:
//        Linear:  w_i <- max(w_i, min_weight) (each raise counts one floor hit), then w_i <- w_i T / sum_j w_j.
//        Log:     e_i = exp(s_i - max_j s_j), w_i = e_i T / sum_j e_j, then s_i <- log w_i.
//        Softmax: the same w; s is kept as stepped (softmax is shift-invariant).
//      Log and Softmax need no floor: w > 0 by construction (a weight that underflows to 0, s_i - max s
//      below about -745, is reported as status 2). Their floor_hits never change.
// A failed update (status != 0) commits nothing: w, L_i(0), the loss sum, Adam's moments, s and the floor
// count are left as they were; the outputs it got to are written. A failure is sticky: while *status != 0
// an update returns at once, so a host that reads status only now and then (CUDA, on logging steps) still
// sees the first failure, and a failed update inside the L_i(0) window cannot skew the mean. Sums run in
// task order, so both backends agree to the last bits of pow, exp, log and fused multiply-adds.
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

// What the weights' optimizer updates (step 4 above). Linear is the paper's update (and the default).
enum class GradNormParam : int { Linear = 0, Log = 1, Softmax = 2 };

struct GradNormUpdateOptions {
  double alpha = 1.5;  // asymmetry
  GradNormOptimizer optimizer = GradNormOptimizer::Adam;
  double lr = 0.025;  // the paper's weight learning rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  GradNormParam param = GradNormParam::Linear;
  double min_weight = 1e-4;    // Linear: the floor before renormalising
  int initial_loss_steps = 1;  // L_i(0) = mean of the first K updates' losses; 0: given and fixed
  bool squared_norms = true;   // norms hold G_i^2 (per_task_sq_norms' output) instead of G_i
};

// Pointers to T entries each unless noted. State persists across updates; outputs are overwritten.
struct GradNormBuffers {
  // state
  double* weights;           // w_i (float64 master copy), updated in place
  double* initial_losses;    // L_i(0)
  double* initial_loss_sum;  // the sum of the losses recorded into L_i(0) so far
  double* adam_m;            // Adam's moments of the optimised parameter p (unused by SGD)
  double* adam_v;
  double* params;      // s_i (Log: log w_i; Softmax: w = T softmax(s)); Linear: unused, left as it is (0)
  double* floor_hits;  // (1) how many times (updates x tasks) the Linear floor raised a weight, cumulative
  // outputs of the last update
  double* loss_ratio;       // Ltilde_i
  double* inverse_rate;     // r_i
  double* target;           // mean(G) r_i^alpha
  double* weight_grad;      // dLgrad/dw_i
  double* param_grad;       // dLgrad/dp_i, what the optimizer stepped with (Linear: = weight_grad)
  double* weights_stepped;  // Linear: w after the optimizer step, before the floor and renormalisation;
                            // Log: exp(s) after the step, before renormalisation; Softmax: T softmax(s)
  double* norms;            // G_i
  double* lgrad;            // (1) Lgrad
  std::int64_t* status;     // (1) GradNormStatus
};

// The state block as one array: the 6 state arrays (w, L_i(0), the loss sum, m, v, s) and floor_hits, then
// the 7 output arrays and lgrad; status apart (int64):
//   [0, 6T) state arrays | 6T floor_hits | [6T+1, 13T+1) output arrays | 13T+1 lgrad.
// Owners allocate gradnorm_state_doubles(T) doubles and call gradnorm_buffers on them. The first
// gradnorm_persistent_doubles(T) doubles are the state a failed update leaves untouched.
inline constexpr std::int64_t gradnorm_persistent_doubles(int num_tasks) { return 6 * std::int64_t{num_tasks} + 1; }
inline constexpr std::int64_t gradnorm_state_doubles(int num_tasks) { return 13 * std::int64_t{num_tasks} + 2; }
inline GradNormBuffers gradnorm_buffers(int num_tasks, double* block, std::int64_t* status) {
  const std::int64_t T = num_tasks, out = gradnorm_persistent_doubles(num_tasks);
  auto a = [&](int k) { return block + k * T; };
  auto o = [&](int k) { return block + out + k * T; };
  return {a(0), a(1), a(2), a(3), a(4), a(5), block + 6 * T, o(0), o(1), o(2), o(3), o(4), o(5), o(6), o(7), status};
}

// "linear", "log", "softmax".
inline const char* gradnorm_param_name(GradNormParam p) {
  return p == GradNormParam::Log ? "log" : p == GradNormParam::Softmax ? "softmax" : "linear";
}

}  // namespace gn
