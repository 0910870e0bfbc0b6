#pragma once
// The GradNorm weight update (GradNorm step 5) entirely on the device, for the CUDA training step: one
// single-block kernel, no host synchronisation, so the step can be captured in a CUDA graph.
//
// Given device arrays L_i(t) (losses), G_i (or G_i^2) and w_i, it does what multitask/gradnorm.cpp does
// on the host, in the same order and in double precision:
//   1. L_i(0): on the first step (device flag `initialized` == 0) record L_i(0) = L_i(t) ("first-step",
//      the default of multitask/initial_loss.h; the other modes stay host-side);
//   2. kernels/cpu/gradnorm_update.cpp's gradnorm_weight_grad: Ltilde_i = L_i / L_i(0),
//      r_i = Ltilde_i / mean(Ltilde), target_i = mean(G) r_i^alpha, Lgrad = sum |G_i - target_i|,
//      dLgrad/dw_i = sign(G_i - target_i) * G_i / w_i (sign(0) = 0);
//   3. one Adam step on w (kernels/cpu/optim.cpp's adam_step, weight decay 0; m, v in device memory; the
//      1-based step count comes from the host, which already knows it);
//   4. kernels/cpu/gradnorm_update.cpp's renormalize_weights: w_i <- max(w_i, min_weight), then
//      w_i <- w_i * T / sum_j w_j.
// The sums run in task order on one thread, as the CPU loops do, so the result matches the CPU sequence
// up to the last-bit differences of pow and fused multiply-adds.
//
// Every intermediate goes to a device struct-of-arrays (GradNormDiagnostics) that the host reads only
// when it asks (GradNormDeviceState::read, e.g. for logging every N steps).
//
// Failure without a host sync: a kernel cannot throw, so where the CPU path throws (a non-finite loss or
// norm, or a non-finite weight after the Adam step) the kernel leaves w, m, v, L_i(0) and the flag
// untouched, writes the diagnostics it has, and sets status != 0; the host checks status when it reads
// the diagnostics (the step after which training diverged is then known to within the read interval).
// Plain C++ header: includes no CUDA headers.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

inline constexpr int kGradNormMaxTasks = 512;  // the kernel keeps 8 doubles per task in shared memory

enum GradNormStatus : int {
  kGradNormOk = 0,
  kGradNormNonFiniteInput = 1,   // a loss, a norm or a norm's non-finite flag: nothing was updated
  kGradNormNonFiniteWeight = 2,  // w after the Adam step (e.g. L_i(0) = 0): nothing was updated
};

struct GradNormUpdateOptions {
  double alpha = 1.5;  // asymmetry
  double lr = 0.025;   // Adam on w (the paper's weight learning rate)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double min_weight = 1e-4;    // floor before renormalising (multitask/gradnorm.h's positivity rule)
  bool squared_norms = false;  // norms hold G_i^2 (per_task_sq_norms' output) instead of G_i
};

// Device pointers, struct of arrays; arrays have T entries. Written by every update (overwrites).
struct GradNormDiagnostics {
  double* loss_ratio;       // Ltilde_i
  double* inverse_rate;     // r_i
  double* target;           // mean(G) r_i^alpha
  double* weight_grad;      // dLgrad/dw_i
  double* weights_stepped;  // w_i after the Adam step, before the floor and renormalisation
  double* norms;            // G_i (sqrt taken when options.squared_norms)
  double* lgrad;            // (1) Lgrad
  int* status;              // (1) GradNormStatus
};

// Host copy of the diagnostics and the state, from GradNormDeviceState::read.
struct GradNormHostDiagnostics {
  std::vector<double> loss_ratio, inverse_rate, target, weight_grad, weights_stepped, norms;
  std::vector<double> initial_losses, adam_m, adam_v;
  double lgrad = 0;
  int status = kGradNormOk;
  bool initialized = false;
};

// Owns the update's device state (L_i(0) and its flag, Adam's m and v) and the diagnostics buffer, in one
// allocation. Construction zeroes everything (m = v = 0, L_i(0) not yet recorded).
class GradNormDeviceState {
 public:
  GradNormDeviceState(int num_tasks, Stream s);
  ~GradNormDeviceState();
  GradNormDeviceState(GradNormDeviceState&&) noexcept;
  GradNormDeviceState& operator=(GradNormDeviceState&&) noexcept;
  GradNormDeviceState(const GradNormDeviceState&) = delete;
  GradNormDeviceState& operator=(const GradNormDeviceState&) = delete;

  int num_tasks() const;
  double* initial_losses() const;  // (T)
  int* initialized() const;        // (1) 0 until the first update records L_i(0)
  double* adam_m() const;          // (T)
  double* adam_v() const;          // (T)
  GradNormDiagnostics diagnostics() const;

  void reset(Stream s);  // back to the constructed state (forgets L_i(0) and the moments)
  // Copies diagnostics and state to the host. Synchronises s: call it when logging, not every step.
  GradNormHostDiagnostics read(Stream s) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// One GradNorm update of the weights. losses: (T) L_i(t); norms: (T) G_i, or G_i^2 with
// options.squared_norms; norm_flags: (T) the non-finite flags of per_task_sq_norms, or nullptr; weights:
// (T) w_i > 0 in the model's dtype (W = float or double), updated in place. All device pointers.
// step: Adam's 1-based step count (>= 1; the host counts the updates). 1 <= T <= kGradNormMaxTasks.
// Asynchronous on s; never reads anything back.
template <class W>
void gradnorm_update(int num_tasks, const double* losses, const double* norms, const int* norm_flags, W* weights,
                     GradNormDeviceState& state, const GradNormUpdateOptions& options, std::int64_t step, Stream s);

}  // namespace gn::cuda
