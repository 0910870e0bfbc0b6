#include "multitask/gradnorm.h"

#include <cmath>

#include "core/device.h"
#include "kernels/cpu/gradnorm_update.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/gradnorm_update.h"
#include "kernels/cuda/stream.h"
#endif
#include "nn/adam.h"
#include "nn/sgd.h"

namespace gn::multitask {

GradNormWeighting::GradNormWeighting(int num_tasks, GradNormOptions options)
    : LossWeighting(num_tasks), options_(std::move(options)) {
  GN_CHECK(std::isfinite(options_.alpha) && options_.alpha >= 0, "gradnorm: alpha must be >= 0, got {}",
           options_.alpha);
  GN_CHECK(options_.lr > 0, "gradnorm: weight learning rate must be > 0, got {}", options_.lr);
  GN_CHECK(options_.min_weight > 0 && options_.min_weight < 1, "gradnorm: min_weight must be in (0, 1), got {}",
           options_.min_weight);
  w_param_ = Tensor::ones({num_tasks}, DType::Float64).set_requires_grad();
  w_grad_ = Tensor::zeros({num_tasks}, DType::Float64);
  w_param_.set_grad(w_grad_);
  if (options_.optimizer == "adam")
    optimizer_ = std::make_unique<nn::Adam>(std::vector<Tensor>{w_param_}, options_.lr);
  else if (options_.optimizer == "sgd")
    optimizer_ = std::make_unique<nn::SGD>(std::vector<Tensor>{w_param_}, options_.lr);
  else
    GN_FAIL("gradnorm: weight optimizer '{}' is not one of adam, sgd", options_.optimizer);
}

void GradNormWeighting::update(StepStats& stats) {
  const int T = num_tasks();
  GN_CHECK(static_cast<int>(stats.losses.size()) == T && static_cast<int>(stats.weighted_norms.size()) == T,
           "gradnorm: update needs {} losses and gradient norms, got {} and {}", T, stats.losses.size(),
           stats.weighted_norms.size());
  for (int i = 0; i < T; ++i)
    GN_CHECK(std::isfinite(stats.losses[i]) && std::isfinite(stats.weighted_norms[i]),
             "gradnorm: step {}: task {} has loss {} and gradient norm {}; training diverged", stats.step, i,
             stats.losses[i], stats.weighted_norms[i]);
  stats.initial_losses = options_.initial_loss.observe(stats.losses);
  stats.loss_ratios.resize(T);
  stats.inverse_rates.resize(T);
  stats.targets.resize(T);
  stats.weight_grads.resize(T);
  stats.lgrad = cpu::gradnorm_weight_grad(
      T, stats.losses.data(), stats.initial_losses.data(), stats.weighted_norms.data(), w_.data(), options_.alpha,
      {stats.loss_ratios.data(), stats.inverse_rates.data(), stats.targets.data(), stats.weight_grads.data()});

  double* w = w_param_.data<double>();
  std::copy(stats.weight_grads.begin(), stats.weight_grads.end(), w_grad_.data<double>());
  optimizer_->step();
  stats.weights_stepped.assign(w, w + T);
  cpu::renormalize_weights(T, w, options_.min_weight);
  w_.assign(w, w + T);
  stats.next_weights = w_;
}

}  // namespace gn::multitask

// ---- CUDA: the whole update on the device (kernels/cuda/gradnorm_update.cu) ----

namespace gn::multitask {

#ifdef GN_WITH_CUDA
struct GradNormWeighting::DeviceState {
  cuda::GradNormDeviceState state;
  std::int64_t updates = 0;
};
#else
struct GradNormWeighting::DeviceState {};
#endif

GradNormWeighting::~GradNormWeighting() = default;

void GradNormWeighting::to_device(Device device, DType dtype) {
  LossWeighting::to_device(device, dtype);
#ifdef GN_WITH_CUDA
  GN_CHECK(options_.initial_loss.mode() == InitialLoss::Mode::FirstStep,
           "gradnorm on CUDA: only --initial-loss first-step is implemented on the device (got {})",
           options_.initial_loss.describe());
  GN_CHECK(options_.optimizer == "adam", "gradnorm on CUDA: only the adam weight optimizer runs on the device");
  device_ = std::make_unique<DeviceState>(DeviceState{cuda::GradNormDeviceState(num_tasks(), cuda::current_stream())});
#else
  GN_FAIL("gradnorm: {}: {}", to_string(device), cuda_unavailable_reason());
#endif
}

void GradNormWeighting::update_device(const Tensor& losses, const Tensor& sq_norms, const Tensor& flags,
                                      std::int64_t step) {
#ifdef GN_WITH_CUDA
  cuda::GradNormUpdateOptions o;
  o.alpha = options_.alpha;
  o.lr = options_.lr;
  o.min_weight = options_.min_weight;
  o.squared_norms = true;
  const int* f = static_cast<const int*>(flags.raw_data());
  GN_DISPATCH_FLOAT(w_device_.dtype(), "gradnorm update", [&] {
    cuda::gradnorm_update<scalar_t>(num_tasks(), losses.data<double>(), sq_norms.data<double>(), f,
                                    w_device_.data<scalar_t>(), device_->state, o, ++device_->updates,
                                    cuda::current_stream());
  });
#else
  GN_FAIL("gradnorm: update_device without CUDA (step {})", step);
#endif
}

void GradNormWeighting::read_device(StepStats* stats) {
  LossWeighting::read_device(stats);
#ifdef GN_WITH_CUDA
  if (!device_ || device_->updates == 0) return;
  const cuda::GradNormHostDiagnostics d = device_->state.read(cuda::current_stream());
  GN_CHECK(d.status == cuda::kGradNormOk,
           "gradnorm: training diverged on the device before step {} ({} loss, norm or weight)", device_->updates,
           d.status == cuda::kGradNormNonFiniteInput ? "a non-finite" : "after the Adam step, a non-finite");
  if (!stats) return;
  stats->initial_losses = d.initial_losses;
  stats->loss_ratios = d.loss_ratio;
  stats->inverse_rates = d.inverse_rate;
  stats->targets = d.target;
  stats->weight_grads = d.weight_grad;
  stats->weights_stepped = d.weights_stepped;
  stats->lgrad = d.lgrad;
#endif
}

}  // namespace gn::multitask
