// The GradNorm weight update on the device (see gradnorm_update.h). One block of 32 threads: the per-task
// work (ratios, targets, the weight gradient, the optimizer) is spread over the threads, and every sum
// runs on thread 0 in task order, exactly as the CPU loops add. T is small (2..~20 in practice), so the
// kernel is a few microseconds of latency; its point is that nothing crosses to the host.

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/gradnorm_update.h"

namespace gn::cuda {
namespace {

constexpr int kThreads = 32;
constexpr int kSharedArrays = 10;  // doubles per task in shared memory

struct UpdateArgs {
  int num_tasks;
  const double* losses;
  const double* norms;
  const int* norm_flags;
  GradNormBuffers b;
  double alpha, beta1, beta2, eps, lr, min_weight;
  GradNormParam param;
  double step_size;           // Adam: lr / (1 - beta1^update), computed on the host as cpu::adam_step does
  double bc2_sqrt;            // Adam: sqrt(1 - beta2^update)
  double update;              // this update's 1-based count, the divisor of the L_i(0) mean
  bool observe_initial_loss;  // this update's losses go into L_i(0)
  bool adam;                  // else plain SGD
  bool squared_norms;
};

template <class W>
__global__ void __launch_bounds__(kThreads) gradnorm_update_kernel(UpdateArgs a, W* weights_out) {
  extern __shared__ double sh[];
  const int T = a.num_tasks;
  const GradNormBuffers& b = a.b;
  double* G = sh;             // G_i
  double* ratio = sh + T;     // Ltilde_i
  double* rate = sh + 2 * T;  // r_i
  double* target = sh + 3 * T;
  double* diff = sh + 4 * T;   // G_i - target_i
  double* w_new = sh + 5 * T;  // after the optimizer step
  double* m_new = sh + 6 * T;
  double* v_new = sh + 7 * T;
  double* l0 = sh + 8 * T;  // L_i(0) after this update
  double* l0_sum = sh + 9 * T;
  double* grad = ratio;  // dLgrad/dp_i: reuses ratio once step 3 has read it
  double* w_fin = rate;  // the committed weights: reuses rate once step 3 has read it
  __shared__ long long bad;
  __shared__ double mean_ratio, mean_norm, coupling, new_hits;
  const bool linear = a.param == GradNormParam::Linear;
  const int tid = threadIdx.x;

  // 0. A failure is sticky: once an update failed, later ones change nothing, so the host sees the
  //    first failure whenever it reads (every thread reads the same value: a uniform return).
  if (*b.status != kGradNormOk) return;

  // 1. Norms, and the finiteness of the inputs.
  if (tid == 0) bad = kGradNormOk;
  __syncthreads();
  for (int i = tid; i < T; i += kThreads) {
    G[i] = a.squared_norms ? sqrt(a.norms[i]) : a.norms[i];
    b.norms[i] = G[i];
    if (!isfinite(a.losses[i]) || !isfinite(G[i]) || (a.norm_flags != nullptr && a.norm_flags[i] != 0))
      bad = kGradNormNonFiniteInput;  // every writer stores the same value
  }
  __syncthreads();
  if (bad != kGradNormOk) {
    if (tid == 0) *b.status = bad;
    return;  // uniform: bad is shared
  }
  __syncthreads();  // every thread has read `bad` before step 2 may write it

  // 2. L_i(0): the running mean while this update is one of the first K, else the stored value.
  for (int i = tid; i < T; i += kThreads) {
    l0_sum[i] = b.initial_loss_sum[i];
    l0[i] = b.initial_losses[i];
    if (a.observe_initial_loss) {
      if (!(isfinite(a.losses[i]) && a.losses[i] > 0)) bad = kGradNormBadInitialLoss;
      l0_sum[i] += a.losses[i];
      l0[i] = l0_sum[i] / a.update;
    }
  }
  __syncthreads();
  if (bad != kGradNormOk) {
    if (tid == 0) *b.status = bad;
    return;
  }
  for (int i = tid; i < T; i += kThreads) ratio[i] = a.losses[i] / l0[i];
  __syncthreads();
  if (tid == 0) {
    double mr = 0, mn = 0;
    for (int i = 0; i < T; ++i) {  // the CPU loop: mean += x / T, in task order
      mr += ratio[i] / T;
      mn += G[i] / T;
    }
    mean_ratio = mr;
    mean_norm = mn;
  }
  __syncthreads();

  // 3. Inverse rates, targets, dLgrad/dw.
  for (int i = tid; i < T; i += kThreads) {
    rate[i] = ratio[i] / mean_ratio;
    target[i] = mean_norm * pow(rate[i], a.alpha);
    diff[i] = G[i] - target[i];
    const double g_unweighted = G[i] / b.weights[i];
    const double dw = diff[i] > 0 ? g_unweighted : (diff[i] < 0 ? -g_unweighted : 0.0);
    b.loss_ratio[i] = ratio[i];
    b.inverse_rate[i] = rate[i];
    b.target[i] = target[i];
    b.weight_grad[i] = dw;
  }
  __syncthreads();  // ratio and rate are free from here on (grad and w_fin)
  if (tid == 0) {
    double c = 0;  // Softmax: sum_i w_i dLgrad/dw_i, in task order as the CPU loop adds
    if (a.param == GradNormParam::Softmax)
      for (int i = 0; i < T; ++i) c += b.weights[i] * b.weight_grad[i];
    coupling = c;
  }
  __syncthreads();

  // 4. dLgrad/dp and the optimizer step on p (cpu::adam_step with weight decay 0, or cpu::sgd_step
  //    without momentum or weight decay).
  for (int i = tid; i < T; i += kThreads) {
    const double w = b.weights[i], dw = b.weight_grad[i];
    grad[i] = linear ? dw : w * dw - (w / T) * coupling;  // Log: coupling = 0
    b.param_grad[i] = grad[i];
    const double p = linear ? w : b.params[i];
    if (a.adam) {
      const double mi = a.beta1 * b.adam_m[i] + (1 - a.beta1) * grad[i];
      const double vi = a.beta2 * b.adam_v[i] + (1 - a.beta2) * grad[i] * grad[i];
      m_new[i] = mi;
      v_new[i] = vi;
      w_new[i] = p - a.step_size * mi / (sqrt(vi) / a.bc2_sqrt + a.eps);
    } else {
      m_new[i] = b.adam_m[i];
      v_new[i] = b.adam_v[i];
      w_new[i] = p - a.lr * (grad[i] + 0.0 * p);  // cpu::sgd_step's expression with weight decay 0
    }
    if (linear) b.weights_stepped[i] = w_new[i];
  }
  __syncthreads();

  // 5. Lgrad, the finiteness of the stepped parameters, and p -> w, in task order on one thread (T is
  //    small): Linear floors (counting hits) and renormalises; Log and Softmax map through exp.
  if (tid == 0) {
    double lgrad = 0;
    long long status = kGradNormOk;
    for (int i = 0; i < T; ++i) {
      lgrad += fabs(diff[i]);
      if (!isfinite(w_new[i])) status = kGradNormNonFiniteWeight;
    }
    *b.lgrad = lgrad;
    if (status == kGradNormOk && linear) {
      double sum = 0, hits = *b.floor_hits;
      for (int i = 0; i < T; ++i) {
        sum += fmax(w_new[i], a.min_weight);  // std::max(w, min_weight) for finite w
        hits += w_new[i] < a.min_weight ? 1 : 0;
      }
      for (int i = 0; i < T; ++i) w_fin[i] = fmax(w_new[i], a.min_weight) * T / sum;  // cpu::renormalize_weights
      new_hits = hits;
    } else if (status == kGradNormOk) {
      double top = w_new[0], sum = 0;
      for (int i = 1; i < T; ++i) top = fmax(top, w_new[i]);
      for (int i = 0; i < T; ++i) {
        w_fin[i] = exp(w_new[i] - top);
        sum += w_fin[i];
      }
      for (int i = 0; i < T; ++i) {
        w_fin[i] = w_fin[i] * T / sum;
        if (!(w_fin[i] > 0)) status = kGradNormNonFiniteWeight;  // underflow
      }
    }
    bad = status;
    *b.status = status;
  }
  __syncthreads();
  if (bad != kGradNormOk) return;  // nothing committed

  // 6. Commit: weights, moments, s, the floor count, L_i(0).
  for (int i = tid; i < T; i += kThreads) {
    const double w = w_fin[i];
    if (!linear) {
      b.weights_stepped[i] = a.param == GradNormParam::Log ? exp(w_new[i]) : w;
      b.params[i] = a.param == GradNormParam::Log ? log(w) : w_new[i];
    }
    b.weights[i] = w;
    weights_out[i] = static_cast<W>(w);
    b.adam_m[i] = m_new[i];
    b.adam_v[i] = v_new[i];
    b.initial_losses[i] = l0[i];
    b.initial_loss_sum[i] = l0_sum[i];
  }
  if (tid == 0 && linear) *b.floor_hits = new_hits;
}

}  // namespace

template <class W>
void gradnorm_update(int num_tasks, const double* losses, const double* norms, const int* norm_flags,
                     const GradNormBuffers& buffers, W* weights_out, const GradNormUpdateOptions& o,
                     std::int64_t update, Stream s) {
  GN_CHECK(num_tasks >= 1 && num_tasks <= kGradNormMaxTasks, "gradnorm_update: {} tasks; 1..{} supported", num_tasks,
           kGradNormMaxTasks);
  GN_CHECK(update >= 1, "gradnorm_update: update must be >= 1 (Adam's bias correction), got {}", update);
  GN_CHECK(losses != nullptr && norms != nullptr && weights_out != nullptr && buffers.weights != nullptr &&
               buffers.status != nullptr,
           "gradnorm_update: null pointer");
  GN_CHECK(std::isfinite(o.alpha) && o.lr > 0 && o.min_weight > 0 && o.initial_loss_steps >= 0,
           "gradnorm_update: bad options alpha={} lr={} min_weight={} initial_loss_steps={}", o.alpha, o.lr,
           o.min_weight, o.initial_loss_steps);
  GN_CHECK(o.param == GradNormParam::Linear || o.param == GradNormParam::Log || o.param == GradNormParam::Softmax,
           "gradnorm_update: unknown weight parameterisation {}", static_cast<int>(o.param));
  UpdateArgs a{};
  a.num_tasks = num_tasks;
  a.losses = losses;
  a.norms = norms;
  a.norm_flags = norm_flags;
  a.b = buffers;
  a.alpha = o.alpha;
  a.beta1 = o.beta1;
  a.beta2 = o.beta2;
  a.eps = o.eps;
  a.lr = o.lr;
  a.min_weight = o.min_weight;
  a.param = o.param;
  // As cpu::adam_step<double>: bias corrections in double on the host.
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(update));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(update));
  a.step_size = o.lr / bc1;
  a.bc2_sqrt = std::sqrt(bc2);
  a.update = static_cast<double>(update);
  a.observe_initial_loss = o.initial_loss_steps > 0 && update <= o.initial_loss_steps;
  a.adam = o.optimizer == GradNormOptimizer::Adam;
  a.squared_norms = o.squared_norms;
  const std::size_t shared = sizeof(double) * kSharedArrays * static_cast<std::size_t>(num_tasks);
  gradnorm_update_kernel<W><<<1, kThreads, shared, s>>>(a, weights_out);
  GN_CUDA_CHECK_LAUNCH();
}

template void gradnorm_update<float>(int, const double*, const double*, const int*, const GradNormBuffers&, float*,
                                     const GradNormUpdateOptions&, std::int64_t, Stream);
template void gradnorm_update<double>(int, const double*, const double*, const int*, const GradNormBuffers&, double*,
                                      const GradNormUpdateOptions&, std::int64_t, Stream);

}  // namespace gn::cuda
