// The GradNorm weight update on the device (see gradnorm_update.h). One block of 32 threads: the per-task
// work (ratios, targets, the weight gradient, Adam) is spread over the threads, and every sum runs on
// thread 0 in task order, exactly as the CPU loops add. T is small (2..~20 in practice), so the kernel is
// a few microseconds of latency; its point is that nothing crosses to the host.

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/gradnorm_update.h"

namespace gn::cuda {
namespace {

constexpr int kThreads = 32;

struct UpdateArgs {
  int num_tasks;
  const double* losses;
  const double* norms;
  const int* norm_flags;
  double* initial_losses;
  int* initialized;
  double* m;
  double* v;
  GradNormDiagnostics diag;
  double alpha, beta1, beta2, eps, min_weight;
  double step_size;  // lr / (1 - beta1^step), computed on the host exactly as cpu::adam_step does
  double bc2_sqrt;   // sqrt(1 - beta2^step)
  bool squared_norms;
};

// Dynamic shared memory: 8 arrays of T doubles.
template <class W>
__global__ void __launch_bounds__(kThreads) gradnorm_update_kernel(UpdateArgs a, W* weights) {
  extern __shared__ double sh[];
  const int T = a.num_tasks;
  double* G = sh;             // G_i
  double* ratio = sh + T;     // Ltilde_i
  double* rate = sh + 2 * T;  // r_i
  double* target = sh + 3 * T;
  double* diff = sh + 4 * T;   // G_i - target_i
  double* w_new = sh + 5 * T;  // after Adam
  double* m_new = sh + 6 * T;
  double* v_new = sh + 7 * T;
  __shared__ int bad;
  __shared__ double mean_ratio, mean_norm, total;
  const int tid = threadIdx.x;

  // 1. Norms, and the finiteness of the inputs (the CPU path's GN_CHECKs).
  if (tid == 0) bad = 0;
  __syncthreads();
  for (int i = tid; i < T; i += kThreads) {
    G[i] = a.squared_norms ? sqrt(a.norms[i]) : a.norms[i];
    a.diag.norms[i] = G[i];
    if (!isfinite(a.losses[i]) || !isfinite(G[i]) || (a.norm_flags != nullptr && a.norm_flags[i] != 0))
      atomicOr(&bad, 1);  // an int flag, not a sum
  }
  __syncthreads();
  if (bad) {
    if (tid == 0) *a.diag.status = kGradNormNonFiniteInput;
    return;  // uniform: bad is shared
  }

  // 2. L_i(0) (first-step mode: the current losses on the first update) and the loss ratios.
  const bool first = *a.initialized == 0;
  for (int i = tid; i < T; i += kThreads) ratio[i] = a.losses[i] / (first ? a.losses[i] : a.initial_losses[i]);
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

  // 3. Inverse rates, targets, dLgrad/dw, and the Adam step (cpu::adam_step with weight_decay = 0).
  for (int i = tid; i < T; i += kThreads) {
    rate[i] = ratio[i] / mean_ratio;
    target[i] = mean_norm * pow(rate[i], a.alpha);
    diff[i] = G[i] - target[i];
    const double w = static_cast<double>(weights[i]);
    const double g_unweighted = G[i] / w;
    const double dw = diff[i] > 0 ? g_unweighted : (diff[i] < 0 ? -g_unweighted : 0.0);
    a.diag.loss_ratio[i] = ratio[i];
    a.diag.inverse_rate[i] = rate[i];
    a.diag.target[i] = target[i];
    a.diag.weight_grad[i] = dw;
    const double mi = a.beta1 * a.m[i] + (1 - a.beta1) * dw;
    const double vi = a.beta2 * a.v[i] + (1 - a.beta2) * dw * dw;
    m_new[i] = mi;
    v_new[i] = vi;
    w_new[i] = w - a.step_size * mi / (sqrt(vi) / a.bc2_sqrt + a.eps);
    a.diag.weights_stepped[i] = w_new[i];
  }
  __syncthreads();

  // 4. Lgrad, the finiteness of the stepped weights, and the renormalisation total, in task order.
  if (tid == 0) {
    double lgrad = 0, sum = 0;
    int status = kGradNormOk;
    for (int i = 0; i < T; ++i) {
      lgrad += fabs(diff[i]);
      if (!isfinite(w_new[i])) status = kGradNormNonFiniteWeight;
      sum += fmax(w_new[i], a.min_weight);  // std::max(w, min_weight) for finite w
    }
    total = sum;
    bad = status;
    *a.diag.lgrad = lgrad;
    *a.diag.status = status;
  }
  __syncthreads();
  if (bad) return;  // nothing committed

  // 5. Commit: renormalised weights, moments, and L_i(0) on the first update.
  for (int i = tid; i < T; i += kThreads) {
    const double floored = fmax(w_new[i], a.min_weight);
    weights[i] = static_cast<W>(floored * T / total);  // cpu::renormalize_weights' expression
    a.m[i] = m_new[i];
    a.v[i] = v_new[i];
    if (first) a.initial_losses[i] = a.losses[i];
  }
  if (tid == 0 && first) *a.initialized = 1;
}

// Layout of the single allocation: kDoubleArrays double arrays of T, then lgrad, then the two ints
// (8-byte aligned, as everything before them is doubles). Arrays: 0 initial_losses, 1 m, 2 v,
// 3 loss_ratio, 4 inverse_rate, 5 target, 6 weight_grad, 7 weights_stepped, 8 norms.
constexpr int kDoubleArrays = 9;

}  // namespace

struct GradNormDeviceState::Impl {
  int num_tasks = 0;
  void* block = nullptr;
  cudaStream_t stream = nullptr;
  double* d(int k) const { return static_cast<double*>(block) + static_cast<std::ptrdiff_t>(k) * num_tasks; }
  double* lgrad() const { return d(kDoubleArrays); }
  int* ints() const { return reinterpret_cast<int*>(lgrad() + 1); }  // [0] initialized, [1] status
  std::size_t bytes() const { return sizeof(double) * (kDoubleArrays * num_tasks + 1) + 2 * sizeof(int); }
  ~Impl() {
    if (block == nullptr) return;
    if (stream != nullptr) cudaStreamSynchronize(stream);  // queued updates may still use it
    cudaFree(block);
  }
};

GradNormDeviceState::GradNormDeviceState(int num_tasks, Stream s) : impl_(std::make_unique<Impl>()) {
  GN_CHECK(num_tasks >= 1 && num_tasks <= kGradNormMaxTasks, "GradNormDeviceState: {} tasks; 1..{} supported",
           num_tasks, kGradNormMaxTasks);
  impl_->num_tasks = num_tasks;
  GN_CUDA_CHECK(cudaMalloc(&impl_->block, impl_->bytes()));
  impl_->stream = s;
  reset(s);
}
GradNormDeviceState::~GradNormDeviceState() = default;
GradNormDeviceState::GradNormDeviceState(GradNormDeviceState&&) noexcept = default;
GradNormDeviceState& GradNormDeviceState::operator=(GradNormDeviceState&&) noexcept = default;

int GradNormDeviceState::num_tasks() const { return impl_->num_tasks; }
double* GradNormDeviceState::initial_losses() const { return impl_->d(0); }
int* GradNormDeviceState::initialized() const { return impl_->ints(); }
double* GradNormDeviceState::adam_m() const { return impl_->d(1); }
double* GradNormDeviceState::adam_v() const { return impl_->d(2); }
GradNormDiagnostics GradNormDeviceState::diagnostics() const {
  const Impl& d = *impl_;
  return {d.d(3), d.d(4), d.d(5), d.d(6), d.d(7), d.d(8), d.lgrad(), d.ints() + 1};
}

void GradNormDeviceState::reset(Stream s) {
  GN_CUDA_CHECK(cudaMemsetAsync(impl_->block, 0, impl_->bytes(), s));  // all-zero bits: 0.0 and 0
  impl_->stream = s;
}

GradNormHostDiagnostics GradNormDeviceState::read(Stream s) const {
  const Impl& d = *impl_;
  const int T = d.num_tasks;
  std::vector<double> all(static_cast<std::size_t>(kDoubleArrays) * T + 1);
  int ints[2] = {0, 0};
  GN_CUDA_CHECK(cudaMemcpyAsync(all.data(), d.block, sizeof(double) * all.size(), cudaMemcpyDeviceToHost, s));
  GN_CUDA_CHECK(cudaMemcpyAsync(ints, d.ints(), sizeof(ints), cudaMemcpyDeviceToHost, s));
  GN_CUDA_CHECK(cudaStreamSynchronize(s));
  auto array = [&](int k) { return std::vector<double>(all.begin() + k * T, all.begin() + (k + 1) * T); };
  GradNormHostDiagnostics h;
  h.initial_losses = array(0);
  h.adam_m = array(1);
  h.adam_v = array(2);
  h.loss_ratio = array(3);
  h.inverse_rate = array(4);
  h.target = array(5);
  h.weight_grad = array(6);
  h.weights_stepped = array(7);
  h.norms = array(8);
  h.lgrad = all[static_cast<std::size_t>(kDoubleArrays) * T];
  h.initialized = ints[0] != 0;
  h.status = ints[1];
  return h;
}

template <class W>
void gradnorm_update(int num_tasks, const double* losses, const double* norms, const int* norm_flags, W* weights,
                     GradNormDeviceState& state, const GradNormUpdateOptions& options, std::int64_t step, Stream s) {
  GN_CHECK(num_tasks == state.num_tasks(), "gradnorm_update: {} tasks but the state has {}", num_tasks,
           state.num_tasks());
  GN_CHECK(step >= 1, "gradnorm_update: step must be >= 1 (Adam's bias correction), got {}", step);
  GN_CHECK(losses != nullptr && norms != nullptr && weights != nullptr, "gradnorm_update: null pointer");
  GN_CHECK(std::isfinite(options.alpha) && options.lr > 0 && options.min_weight > 0,
           "gradnorm_update: bad options alpha={} lr={} min_weight={}", options.alpha, options.lr, options.min_weight);
  UpdateArgs a{};
  a.num_tasks = num_tasks;
  a.losses = losses;
  a.norms = norms;
  a.norm_flags = norm_flags;
  a.initial_losses = state.initial_losses();
  a.initialized = state.initialized();
  a.m = state.adam_m();
  a.v = state.adam_v();
  a.diag = state.diagnostics();
  a.alpha = options.alpha;
  a.beta1 = options.beta1;
  a.beta2 = options.beta2;
  a.eps = options.eps;
  a.min_weight = options.min_weight;
  // As cpu::adam_step<double>: bias corrections in double on the host.
  const double bc1 = 1.0 - std::pow(options.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(options.beta2, static_cast<double>(step));
  a.step_size = options.lr / bc1;
  a.bc2_sqrt = std::sqrt(bc2);
  a.squared_norms = options.squared_norms;
  const std::size_t shared = sizeof(double) * 8 * static_cast<std::size_t>(num_tasks);
  gradnorm_update_kernel<W><<<1, kThreads, shared, s>>>(a, weights);
  GN_CUDA_CHECK_LAUNCH();
}

template void gradnorm_update<float>(int, const double*, const double*, const int*, float*, GradNormDeviceState&,
                                     const GradNormUpdateOptions&, std::int64_t, Stream);
template void gradnorm_update<double>(int, const double*, const double*, const int*, double*, GradNormDeviceState&,
                                      const GradNormUpdateOptions&, std::int64_t, Stream);

}  // namespace gn::cuda
