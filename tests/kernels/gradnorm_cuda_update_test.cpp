// The GradNorm CUDA kernels (kernels/cuda/task_norms, weighted_loss, gradnorm_update), every numbered
// variant, against the CPU references (kernels/cpu) at awkward sizes, outputs poisoned with NaN first.
//
// Two kinds of data: small integers in [-2, 2], where every sum stays an integer below 2^24, so float
// arithmetic is exact and the GPU must match the CPU bit for bit (any indexing slip shows, whatever the
// size); and normal values, checked against the float64 reference within a rounding bound derived from
// the dtype and the length of the longest sequential sum.
//
// This file: the GradNorm weight update on the device (gradnorm_update.cu) against the CPU kernel
// (cpu::gradnorm_update) on host copies of the same state block (kernels/gradnorm_update_state.h).
#include <gtest/gtest.h>

#include "core/device.h"
#include "tests/cuda_test_support.h"

#ifdef GN_WITH_CUDA

#include <algorithm>
#include <string>

#include "gradnorm_cuda_support.h"
#include "tests/kernels/gradnorm_update_cases.h"

namespace gn {
namespace {

// ---- a state block on the host and on the device -------------------------------------------------

constexpr double kEps64 = std::numeric_limits<double>::epsilon();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A host copy of a state block and its status.
struct HostState {
  int T = 0;
  std::vector<double> block;
  std::int64_t status = kGradNormOk;  // an input too: a failure is sticky
  GradNormBuffers b() { return gradnorm_buffers(T, block.data(), &status); }
  // The state (w, L_i(0), the loss sum, m, v, s, the floor count): what a failed update must not touch.
  std::vector<double> state() const { return {block.begin(), block.begin() + gradnorm_persistent_doubles(T)}; }
  // NaN in every output array, so an output an update forgets to write shows; status OK (not failed).
  void poison_outputs() {
    std::fill(block.begin() + gradnorm_persistent_doubles(T), block.end(), kNaN);
    status = kGradNormOk;
  }
};

// A block as its owners create it: w = 1, L_i(0), the loss sum and the moments 0.
HostState fresh_state(int T) {
  HostState h{T, std::vector<double>(static_cast<std::size_t>(gradnorm_state_doubles(T)), 0.0), kGradNormOk};
  std::fill(h.block.begin(), h.block.begin() + T, 1.0);
  h.poison_outputs();
  return h;
}

// A state block in device memory.
class DeviceState {
 public:
  explicit DeviceState(int T) : T_(T), block_(gradnorm_state_doubles(T)), status_(1) { write(fresh_state(T)); }
  GradNormBuffers b() const { return gradnorm_buffers(T_, block_.get(), status_.get()); }
  HostState read() const { return {T_, block_.download(gradnorm_state_doubles(T_)), status_.download(1)[0]}; }
  void write(const HostState& h) {
    block_.upload(h.block);
    status_.upload({h.status});
  }

 private:
  int T_;
  Dev<double> block_;
  Dev<std::int64_t> status_;
};

void expect_same_bits(const double* got, const double* want, int n, const std::string& what) {
  for (int i = 0; i < n; ++i)
    if (!same_bits(got[i], want[i])) {
      ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << ", want exactly " << want[i];
      return;
    }
}
void expect_same_bits(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  expect_same_bits(got.data(), want.data(), static_cast<int>(got.size()), what);
}

// ---- one device update against the CPU kernel -----------------------------------------------------
//
// Both run the same update on the same state and inputs, so every difference is rounding inside this
// one update, bounded here term by term (u = eps / 2 of double):
//   - norms (sqrt), L_i(0) and the loss sum (+, /), the loss ratios and inverse rates (/, and sums of
//     x / T in task order): correctly rounded operations on equal inputs, so the same bits;
//   - target_i = mean(G) r_i^alpha: CUDA's double pow is within 2 ulp (CUDA Math API, double precision
//     functions), glibc's within 1, plus the product's rounding (u) on each side: (2 + 1 + 1) eps;
//   - G_i - target_i: that, plus its own rounding on each side (or none where a side fuses it): eps |diff|;
//     while |diff| exceeds this its sign, hence dLgrad/dw_i = +-G_i / w_i, is the same bits;
//   - Adam's m (2 roundings a side, or 1 fused) 2 eps of |beta1 m| + |(1 - beta1) dw|, v 3 eps of its
//     terms; the step lr_t m / (sqrt(v) / sqrt(bc2) + eps) carries those plus 4 eps of roundings; SGD's
//     w - lr dw one rounding a side of |lr dw| and |w|;
//   - the floor is 1-Lipschitz, the total adds T eps of itself, and w_i = f_i T / total 2 eps.
// A kernel that reorders a sum, skips a term or mixes up tasks misses these by many orders of magnitude.
constexpr double kPowUlps = 2 + 1;

template <class W>
void expect_update_matches(HostState before, HostState cpu, HostState dev, const std::vector<W>& out_cpu,
                           const std::vector<W>& out_dev, const GradNormUpdateOptions& o, std::int64_t update) {
  const int T = before.T;
  const GradNormBuffers p = before.b(), c = cpu.b(), d = dev.b();
  ASSERT_EQ(cpu.status, kGradNormOk);
  ASSERT_EQ(dev.status, kGradNormOk);
  expect_same_bits(d.norms, c.norms, T, "norms");
  expect_same_bits(d.initial_losses, c.initial_losses, T, "L_i(0)");
  expect_same_bits(d.initial_loss_sum, c.initial_loss_sum, T, "loss sum");
  expect_same_bits(d.loss_ratio, c.loss_ratio, T, "loss ratio");
  expect_same_bits(d.inverse_rate, c.inverse_rate, T, "inverse rate");
  expect_same_bits(d.params, c.params, T, "s (unused by linear)");
  EXPECT_EQ(*d.floor_hits, *c.floor_hits) << "floor hits";
  const bool adam = o.optimizer == GradNormOptimizer::Adam;
  const double step_size = o.lr / (1 - std::pow(o.beta1, static_cast<double>(update)));
  const double bc2_sqrt = std::sqrt(1 - std::pow(o.beta2, static_cast<double>(update)));
  std::vector<double> tol_stepped(T);
  double tol_lgrad = 0, total = 0, tol_total = 0;
  for (int i = 0; i < T; ++i) {
    const double target = c.target[i], diff = c.norms[i] - target, dw = c.weight_grad[i];
    const double tol_target = (kPowUlps + 1) * kEps64 * std::abs(target);
    const double tol_diff = tol_target + kEps64 * std::abs(diff);
    EXPECT_NEAR(d.target[i], target, tol_target) << "target [" << i << "]";
    // r_i == 1 exactly: pow(1, alpha) == 1 on both sides, so target and diff are the same bits.
    ASSERT_TRUE(c.inverse_rate[i] == 1.0 || std::abs(diff) > tol_diff)
        << "task " << i << " is on its target to rounding, so the sign of dLgrad/dw is not determined: change the "
        << "test inputs";
    EXPECT_TRUE(same_bits(d.weight_grad[i], dw)) << "dLgrad/dw [" << i << "]: " << d.weight_grad[i] << " vs " << dw;
    tol_lgrad += tol_diff;
    if (adam) {
      const double tol_m = 2 * kEps64 * (o.beta1 * std::abs(p.adam_m[i]) + (1 - o.beta1) * std::abs(dw));
      const double tol_v = 3 * kEps64 * (o.beta2 * p.adam_v[i] + (1 - o.beta2) * dw * dw);
      EXPECT_NEAR(d.adam_m[i], c.adam_m[i], tol_m) << "m [" << i << "]";
      EXPECT_NEAR(d.adam_v[i], c.adam_v[i], tol_v) << "v [" << i << "]";
      const double m = c.adam_m[i], v = c.adam_v[i];
      const double den = std::sqrt(v) / bc2_sqrt + o.eps, step = step_size * m / den;
      tol_stepped[i] = step_size * (tol_m + kEps64 * std::abs(m)) / den +
                       std::abs(step) * ((v > 0 ? tol_v / (2 * v) : 0.0) + 4 * kEps64) +
                       kEps64 * std::abs(c.weights_stepped[i]);
    } else {
      EXPECT_TRUE(same_bits(d.adam_m[i], p.adam_m[i]) && same_bits(d.adam_v[i], p.adam_v[i])) << "SGD moved m, v";
      tol_stepped[i] = kEps64 * (o.lr * std::abs(dw) + std::abs(c.weights_stepped[i]));
    }
    EXPECT_NEAR(d.weights_stepped[i], c.weights_stepped[i], tol_stepped[i]) << "stepped w [" << i << "]";
    total += std::max(c.weights_stepped[i], o.min_weight);
    tol_total += tol_stepped[i];
  }
  tol_total += T * kEps64 * total;
  tol_lgrad += T * kEps64 * *c.lgrad;
  EXPECT_NEAR(*d.lgrad, *c.lgrad, tol_lgrad) << "Lgrad";
  for (int i = 0; i < T; ++i) {
    const double floored = std::max(c.weights_stepped[i], o.min_weight);
    const double tol_w = c.weights[i] * (tol_stepped[i] / floored + tol_total / total + 2 * kEps64);
    EXPECT_NEAR(d.weights[i], c.weights[i], tol_w) << "w [" << i << "]";
    // weights_out: the master rounded once to W, on either side (a float may round a last-bit
    // difference of the masters one float ulp apart).
    EXPECT_EQ(out_dev[i], static_cast<W>(d.weights[i])) << "weights_out [" << i << "]";
    EXPECT_EQ(out_cpu[i], static_cast<W>(c.weights[i]));
    const double tol_out = tol_w + (sizeof(W) == 4 ? std::numeric_limits<float>::epsilon() * c.weights[i] : 0.0);
    EXPECT_NEAR(out_dev[i], out_cpu[i], tol_out) << "weights_out [" << i << "]";
  }
}

// Update k's inputs: losses decaying at task-dependent rates (always > 0 for k <= 12), norms
// G_i = w_i g_i with g_i varying.
void update_inputs(int T, int k, const double* w, std::vector<double>& L, std::vector<double>& G) {
  L.resize(T);
  G.resize(T);
  for (int i = 0; i < T; ++i) {
    L[i] = (1.0 + i) * std::exp(-0.05 * (1 + i % 5) * k) + 0.01 * std::sin(3.0 * k + i);
    G[i] = w[i] * (0.5 + 0.3 * (i % 7) + 0.2 * std::cos(0.7 * k + i));
  }
}

// 12 updates of the device state; before each, the state is read back and the CPU kernel runs the same
// update on that copy, so the comparison is always of one update from equal states (no drift to bound).
// T = 33 and the maximum make the kernel's 32 threads loop over tasks.
template <class W>
void check_against_cpu(GradNormOptimizer optimizer) {
  for (const int T : {1, 2, 3, 5, 16, 33, cuda::kGradNormMaxTasks})
    for (const bool squared : {false, true})
      for (const int K : {1, 3}) {
        GradNormUpdateOptions opt;
        opt.optimizer = optimizer;
        opt.alpha = 0.12 + 0.5 * (T % 3);
        opt.squared_norms = squared;
        opt.initial_loss_steps = K;
        DeviceState dev(T);
        Dev<double> L_d(T), G_d(T);
        Dev<int> flags(T);  // all clear: the squared path passes them, as per_task_sq_norms' caller does
        flags.zero();
        Dev<W> out_d(T);
        for (int k = 1; k <= 12; ++k) {
          HostState before = dev.read();
          before.poison_outputs();
          dev.write(before);
          std::vector<double> L, G;
          update_inputs(T, k, before.block.data(), L, G);
          if (squared)
            for (auto& g : G) g *= g;
          L_d.upload(L);
          G_d.upload(G);
          out_d.poison();
          cuda::gradnorm_update<W>(T, L_d.get(), G_d.get(), squared ? flags.get() : nullptr, dev.b(), out_d.get(), opt,
                                   k, stream());
          HostState cpu = before;
          std::vector<W> out_cpu(T, static_cast<W>(kNaN));
          cpu::gradnorm_update<W>(T, L.data(), G.data(), nullptr, cpu.b(), out_cpu.data(), opt, k);
          expect_update_matches<W>(before, cpu, dev.read(), out_cpu, out_d.download(T), opt, k);
          if (::testing::Test::HasFailure())
            FAIL() << "T=" << T << " squared=" << squared << " K=" << K << " update " << k;
        }
      }
}

TEST(GradNormCudaUpdate, MatchesCpuKernelAdamDoubleWeights) {
  GN_SKIP_WITHOUT_CUDA();
  check_against_cpu<double>(GradNormOptimizer::Adam);
}
TEST(GradNormCudaUpdate, MatchesCpuKernelAdamFloatWeights) {
  GN_SKIP_WITHOUT_CUDA();
  check_against_cpu<float>(GradNormOptimizer::Adam);
}
TEST(GradNormCudaUpdate, MatchesCpuKernelSgdDoubleWeights) {
  GN_SKIP_WITHOUT_CUDA();
  check_against_cpu<double>(GradNormOptimizer::Sgd);
}
TEST(GradNormCudaUpdate, MatchesCpuKernelSgdFloatWeights) {
  GN_SKIP_WITHOUT_CUDA();
  check_against_cpu<float>(GradNormOptimizer::Sgd);
}

// The log and softmax parameterisations: 12 updates from equal states, as above. The device's pow, exp
// and log may differ from the CPU's in the last bits and nvcc may fuse multiply-adds, so the comparison is
// relative, 1e-12 (thousands of ulps: far above a few roundings through Adam, exp and the normalisation,
// far below a wrong coupling term or a mixed-up task); the floor count stays 0 on both.
void check_params_against_cpu(GradNormParam param, GradNormOptimizer optimizer) {
  for (const int T : {1, 2, 5, 33})
    for (const bool squared : {false, true}) {
      GradNormUpdateOptions opt;
      opt.optimizer = optimizer;
      opt.param = param;
      opt.alpha = 0.12 + 0.5 * (T % 3);
      opt.squared_norms = squared;
      DeviceState dev(T);
      Dev<double> L_d(T), G_d(T), out_d(T);
      for (int k = 1; k <= 12; ++k) {
        HostState before = dev.read();
        before.poison_outputs();
        dev.write(before);
        std::vector<double> L, G;
        update_inputs(T, k, before.block.data(), L, G);
        if (squared)
          for (auto& g : G) g *= g;
        L_d.upload(L);
        G_d.upload(G);
        cuda::gradnorm_update<double>(T, L_d.get(), G_d.get(), nullptr, dev.b(), out_d.get(), opt, k, stream());
        HostState cpu = before;
        std::vector<double> out_cpu(T, kNaN);
        cpu::gradnorm_update<double>(T, L.data(), G.data(), nullptr, cpu.b(), out_cpu.data(), opt, k);
        HostState got = dev.read();
        ASSERT_EQ(cpu.status, kGradNormOk);
        ASSERT_EQ(got.status, kGradNormOk);
        const GradNormBuffers c = cpu.b(), d = got.b();
        auto near = [&](const double* x, const double* y, const char* what) {
          for (int i = 0; i < T; ++i) EXPECT_NEAR(x[i], y[i], 1e-12 * (1 + std::abs(y[i]))) << what << " [" << i << "]";
        };
        near(d.weights, c.weights, "w");
        near(d.params, c.params, "s");
        near(d.param_grad, c.param_grad, "dLgrad/ds");
        near(d.weights_stepped, c.weights_stepped, "stepped w");
        near(d.adam_m, c.adam_m, "m");
        near(d.adam_v, c.adam_v, "v");
        near(out_d.download(T).data(), out_cpu.data(), "weights_out");
        EXPECT_EQ(*d.floor_hits, 0.0);
        if (::testing::Test::HasFailure())
          FAIL() << gradnorm_param_name(param) << " T=" << T << " squared=" << squared << " update " << k;
      }
    }
}

TEST(GradNormCudaUpdate, LogParamMatchesCpuKernel) {
  GN_SKIP_WITHOUT_CUDA();
  check_params_against_cpu(GradNormParam::Log, GradNormOptimizer::Adam);
  check_params_against_cpu(GradNormParam::Log, GradNormOptimizer::Sgd);
}
TEST(GradNormCudaUpdate, SoftmaxParamMatchesCpuKernel) {
  GN_SKIP_WITHOUT_CUDA();
  check_params_against_cpu(GradNormParam::Softmax, GradNormOptimizer::Adam);
  check_params_against_cpu(GradNormParam::Softmax, GradNormOptimizer::Sgd);
}

// With G^2 rounded to double, sqrt(fl(G^2)) == G exactly (binary floating point, round to nearest; CUDA's
// double sqrt is correctly rounded), so the squared-norms path gives the plain path's bits.
TEST(GradNormCudaUpdate, SquaredNormsMatchPlainNorms) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = 5;
  GradNormUpdateOptions plain, squared;
  plain.squared_norms = false;
  squared.squared_norms = true;
  DeviceState a(T), b(T);
  Dev<double> L_d(T), G_d(T), G2_d(T), wa(T), wb(T);
  for (int k = 1; k <= 12; ++k) {
    std::vector<double> L, G;
    update_inputs(T, k, a.read().block.data(), L, G);
    std::vector<double> G2 = G;
    for (auto& g : G2) g *= g;
    L_d.upload(L);
    G_d.upload(G);
    G2_d.upload(G2);
    cuda::gradnorm_update<double>(T, L_d.get(), G_d.get(), nullptr, a.b(), wa.get(), plain, k, stream());
    cuda::gradnorm_update<double>(T, L_d.get(), G2_d.get(), nullptr, b.b(), wb.get(), squared, k, stream());
    const HostState ha = a.read(), hb = b.read();
    ASSERT_EQ(ha.status, kGradNormOk);
    ASSERT_EQ(hb.status, kGradNormOk);
    expect_same_bits(hb.block, ha.block, "squared vs plain norms, update " + std::to_string(k));
    expect_same_bits(wb.download(T), wa.download(T), "weights_out");
  }
}

// One SGD update worked by hand, exact in binary: T = 2, L = L(0) (ratios 1, targets mean(G) = 2),
// G = (1, 3), w = 1: dLgrad/dw = (-1, +3); with lr = 1/8, w - lr dw = (1.125, 0.625), sum 1.75.
TEST(GradNormCudaUpdate, SgdStepByHand) {
  GN_SKIP_WITHOUT_CUDA();
  DeviceState s(2);
  GradNormUpdateOptions opt;
  opt.optimizer = GradNormOptimizer::Sgd;
  opt.lr = 0.125;
  opt.squared_norms = false;
  Dev<double> L(2), G(2);
  Dev<float> w_out(2);
  L.upload({1.0, 1.0});
  G.upload({1.0, 3.0});
  cuda::gradnorm_update<float>(2, L.get(), G.get(), nullptr, s.b(), w_out.get(), opt, 1, stream());
  HostState h = s.read();
  const GradNormBuffers b = h.b();
  ASSERT_EQ(h.status, kGradNormOk);
  EXPECT_EQ((std::vector<double>{b.weight_grad[0], b.weight_grad[1]}), (std::vector<double>{-1.0, 3.0}));
  EXPECT_EQ((std::vector<double>{b.weights_stepped[0], b.weights_stepped[1]}), (std::vector<double>{1.125, 0.625}));
  EXPECT_EQ(*b.lgrad, 2.0);
  EXPECT_EQ(b.weights[0], 1.125 * 2 / 1.75);
  EXPECT_EQ(b.weights[1], 0.625 * 2 / 1.75);
  EXPECT_EQ(w_out.download(2),
            (std::vector<float>{static_cast<float>(1.125 * 2 / 1.75), static_cast<float>(0.625 * 2 / 1.75)}));
  EXPECT_EQ((std::vector<double>{b.adam_m[0], b.adam_m[1], b.adam_v[0], b.adam_v[1]}), std::vector<double>(4, 0.0));
}

// initial_loss_steps = 1 (the paper's rule, the default): L_i(0) is the first update's losses, never
// overwritten.
TEST(GradNormCudaUpdate, FirstStepRuleRecordsInitialLossesOnce) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = 3;
  DeviceState state(T);
  GradNormUpdateOptions opt;
  opt.squared_norms = false;
  Dev<double> L(T), G(T), w(T);
  G.upload({1.0, 2.0, 3.0});
  L.upload({2.0, 4.0, 8.0});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, state.b(), w.get(), opt, 1, stream());
  HostState h = state.read();
  ASSERT_EQ(h.status, kGradNormOk);
  EXPECT_EQ(std::vector<double>(h.b().initial_losses, h.b().initial_losses + T), (std::vector<double>{2.0, 4.0, 8.0}));
  EXPECT_EQ(std::vector<double>(h.b().loss_ratio, h.b().loss_ratio + T), (std::vector<double>{1.0, 1.0, 1.0}));
  L.upload({1.0, 1.0, 1.0});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, state.b(), w.get(), opt, 2, stream());
  h = state.read();
  ASSERT_EQ(h.status, kGradNormOk);
  EXPECT_EQ(std::vector<double>(h.b().initial_losses, h.b().initial_losses + T), (std::vector<double>{2.0, 4.0, 8.0}));
  EXPECT_EQ(std::vector<double>(h.b().loss_ratio, h.b().loss_ratio + T), (std::vector<double>{0.5, 0.25, 0.125}));
  L.upload({0.0, 1.0, 1.0});  // after the window a zero loss is a fine loss
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, state.b(), w.get(), opt, 3, stream());
  h = state.read();
  EXPECT_EQ(h.status, kGradNormOk);
  EXPECT_EQ(std::vector<double>(h.b().initial_losses, h.b().initial_losses + T), (std::vector<double>{2.0, 4.0, 8.0}));
}

// initial_loss_steps = K: L_i(0) is the running mean of the first K updates' losses, then fixed.
TEST(GradNormCudaUpdate, InitialLossIsMeanOfFirstKUpdates) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = 2;
  DeviceState state(T);
  GradNormUpdateOptions opt;
  opt.initial_loss_steps = 2;
  Dev<double> L(T), G(T);
  Dev<float> w(T);
  G.upload({1.0, 4.0});
  auto l0 = [](HostState& h) { return std::vector<double>(h.b().initial_losses, h.b().initial_losses + 2); };
  auto sum = [](HostState& h) { return std::vector<double>(h.b().initial_loss_sum, h.b().initial_loss_sum + 2); };
  auto ratio = [](HostState& h) { return std::vector<double>(h.b().loss_ratio, h.b().loss_ratio + 2); };
  L.upload({2.0, 4.0});
  cuda::gradnorm_update<float>(T, L.get(), G.get(), nullptr, state.b(), w.get(), opt, 1, stream());
  HostState h = state.read();
  ASSERT_EQ(h.status, kGradNormOk);
  EXPECT_EQ(l0(h), (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ(sum(h), (std::vector<double>{2.0, 4.0}));
  L.upload({4.0, 8.0});
  cuda::gradnorm_update<float>(T, L.get(), G.get(), nullptr, state.b(), w.get(), opt, 2, stream());
  h = state.read();
  ASSERT_EQ(h.status, kGradNormOk);
  EXPECT_EQ(l0(h), (std::vector<double>{3.0, 6.0}));
  EXPECT_EQ(sum(h), (std::vector<double>{6.0, 12.0}));
  EXPECT_EQ(ratio(h), (std::vector<double>{4.0 / 3.0, 8.0 / 6.0}));
  L.upload({1.0, 1.0});
  cuda::gradnorm_update<float>(T, L.get(), G.get(), nullptr, state.b(), w.get(), opt, 3, stream());
  h = state.read();
  ASSERT_EQ(h.status, kGradNormOk);
  EXPECT_EQ(l0(h), (std::vector<double>{3.0, 6.0}));
  EXPECT_EQ(sum(h), (std::vector<double>{6.0, 12.0}));
  EXPECT_EQ(ratio(h), (std::vector<double>{1.0 / 3.0, 1.0 / 6.0}));
}

// initial_loss_steps = 0: L_i(0) is given by the owner and no update changes it (nor the loss sum), even
// with a zero loss (which the L_i(0) window would refuse).
TEST(GradNormCudaUpdate, GivenInitialLossNeverChanges) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = 3;
  DeviceState state(T);
  HostState h = fresh_state(T);
  const std::vector<double> given{0.5, 2.0, 7.25};
  std::copy(given.begin(), given.end(), h.b().initial_losses);
  state.write(h);
  GradNormUpdateOptions opt;
  opt.initial_loss_steps = 0;
  Dev<double> L_d(T), G_d(T), w(T);
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> u(0.1, 3.0);
  for (int k = 1; k <= 20; ++k) {
    std::vector<double> L(T), G(T);
    for (int i = 0; i < T; ++i) {
      L[i] = k == 7 && i == 1 ? 0.0 : u(gen);
      G[i] = u(gen);
    }
    L_d.upload(L);
    G_d.upload(G);
    cuda::gradnorm_update<double>(T, L_d.get(), G_d.get(), nullptr, state.b(), w.get(), opt, k, stream());
    h = state.read();
    ASSERT_EQ(h.status, kGradNormOk) << "update " << k;
    expect_same_bits(h.b().initial_losses, given.data(), T, "L_i(0), update " + std::to_string(k));
    expect_same_bits(std::vector<double>(h.b().initial_loss_sum, h.b().initial_loss_sum + T),
                     std::vector<double>(T, 0.0), "loss sum");
    for (int i = 0; i < T; ++i) EXPECT_EQ(h.b().loss_ratio[i], L[i] / given[i]);
  }
}

// Every failure sets its status (the CPU kernel's, on the same state) and commits nothing: the five state
// arrays keep their bits and weights_out is not written. The failure is sticky: a good update afterwards
// changes nothing until the status is cleared, and then goes on exactly as on a state that never failed.
TEST(GradNormCudaUpdate, FailedUpdatesCommitNothing) {
  GN_SKIP_WITHOUT_CUDA();
  const gradnorm_cases::Failures failures;
  const int T = failures.T;
  const GradNormUpdateOptions opt = failures.options();
  const std::vector<double>&L1 = failures.L1, &L2 = failures.L2, &G = failures.G;
  Dev<double> L_d(T), G_d(T);
  Dev<int> flags_d(T);
  Dev<float> out_d(T);
  HostState good;
  {
    DeviceState s(T);
    L_d.upload(L1);
    G_d.upload(G);
    cuda::gradnorm_update<float>(T, L_d.get(), G_d.get(), nullptr, s.b(), out_d.get(), opt, 1, stream());
    good = s.read();
    ASSERT_EQ(good.status, kGradNormOk);
  }
  const std::vector<gradnorm_cases::FailureCase>& cases = failures.cases;
  for (const gradnorm_cases::FailureCase& c : cases) {
    HostState start = good;
    if (c.bad_weight >= 0) start.block[static_cast<std::size_t>(c.bad_weight)] = c.weight_value;
    DeviceState s(T);
    s.write(start);
    L_d.upload(c.L);
    G_d.upload(c.G);
    if (!c.flags.empty()) flags_d.upload(c.flags);
    out_d.upload(std::vector<float>(T, -1.0f));
    cuda::gradnorm_update<float>(T, L_d.get(), G_d.get(), c.flags.empty() ? nullptr : flags_d.get(), s.b(), out_d.get(),
                                 opt, 2, stream());
    const HostState got = s.read();
    EXPECT_EQ(got.status, c.status) << c.what;
    expect_same_bits(got.state(), start.state(), c.what);
    EXPECT_EQ(out_d.download(T), std::vector<float>(T, -1.0f)) << c.what << ": weights_out written";
    HostState cpu = start;  // the CPU kernel agrees on the status
    std::vector<float> out_cpu(T, -1.0f);
    cpu::gradnorm_update<float>(T, c.L.data(), c.G.data(), c.flags.empty() ? nullptr : c.flags.data(), cpu.b(),
                                out_cpu.data(), opt, 2);
    EXPECT_EQ(cpu.status, c.status) << c.what << " (CPU kernel)";
    if (c.bad_weight >= 0) continue;
    // Sticky: a good update while failed changes nothing and keeps the first failure's status.
    L_d.upload(L2);
    G_d.upload(G);
    cuda::gradnorm_update<float>(T, L_d.get(), G_d.get(), nullptr, s.b(), out_d.get(), opt, 2, stream());
    const HostState still = s.read();
    EXPECT_EQ(still.status, c.status) << c.what << ": the failure must stay visible";
    expect_same_bits(still.state(), start.state(), std::string(c.what) + ", then a good update while failed");
    // Once the status is cleared, the state takes a good update 2 exactly as the never-failed twin does.
    HostState cleared = still;
    cleared.status = kGradNormOk;
    s.write(cleared);
    DeviceState twin(T);
    twin.write(good);
    Dev<float> out_twin(T);
    cuda::gradnorm_update<float>(T, L_d.get(), G_d.get(), nullptr, s.b(), out_d.get(), opt, 2, stream());
    cuda::gradnorm_update<float>(T, L_d.get(), G_d.get(), nullptr, twin.b(), out_twin.get(), opt, 2, stream());
    const HostState after = s.read();
    EXPECT_EQ(after.status, kGradNormOk) << c.what;
    expect_same_bits(after.block, twin.read().block, std::string(c.what) + ", then a good update");
    EXPECT_EQ(out_d.download(T), out_twin.download(T)) << c.what;
  }
  // A bad loss in the very first update leaves L_i(0) unrecorded (and everything else) as well.
  DeviceState s(T);
  const HostState start = s.read();
  L_d.upload({0.0, 1.0, 1.0});
  G_d.upload(G);
  cuda::gradnorm_update<float>(T, L_d.get(), G_d.get(), nullptr, s.b(), out_d.get(), opt, 1, stream());
  const HostState got = s.read();
  EXPECT_EQ(got.status, kGradNormBadInitialLoss);
  expect_same_bits(got.state(), start.state(), "first update, zero loss");
}

// 200 updates on random losses and norms with large steps (the floor is hit): every weight > 0 and
// sum w = T after each. Rounding bound, u = eps / 2: w_i = fl(fl(f_i T) / S), S the sum of the floored
// f_i in T - 1 roundings, so |sum w - T| <= T (T + 1) u to first order, plus T - 1 roundings of the sum
// here: T (T + 1) eps covers both; weights_out (float) adds T roundings of eps_f / 2 w_i.
TEST(GradNormCudaUpdate, WeightsStayPositiveAndSumToT) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = 4;
  GradNormUpdateOptions opt;
  opt.lr = 0.5;
  opt.min_weight = 1e-3;
  opt.squared_norms = false;
  DeviceState state(T);
  Dev<float> w(T);
  Dev<double> L(T), G(T);
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(0.01, 100.0);
  const double tol = T * (T + 1) * kEps64;
  const double tol_out = tol + T * std::numeric_limits<float>::epsilon() / 2;
  int floored = 0;
  for (int k = 1; k <= 200; ++k) {
    std::vector<double> Lh(T), Gh(T);
    for (int i = 0; i < T; ++i) {
      Lh[i] = u(gen);
      Gh[i] = u(gen);
    }
    L.upload(Lh);
    G.upload(Gh);
    cuda::gradnorm_update<float>(T, L.get(), G.get(), nullptr, state.b(), w.get(), opt, k, stream());
    HostState h = state.read();
    const GradNormBuffers b = h.b();
    const auto out = w.download(T);
    ASSERT_EQ(h.status, kGradNormOk) << "update " << k;
    double sum = 0, sum_out = 0;
    for (int i = 0; i < T; ++i) {
      ASSERT_GT(b.weights[i], 0.0) << "update " << k;
      ASSERT_GT(out[i], 0.0f) << "update " << k;
      floored += b.weights_stepped[i] < opt.min_weight;
      sum += b.weights[i];
      sum_out += out[i];
    }
    ASSERT_NEAR(sum, T, tol) << "update " << k;
    ASSERT_NEAR(sum_out, T, tol_out) << "update " << k;
  }
  EXPECT_GT(floored, 0) << "the run never reached the floor: make the steps larger";
}

// The device half of a GradNorm step (fused MSE -> per-task norms of its gradients -> weight update)
// captured in a CUDA graph: capture fails if any of them synchronises with the host or allocates, and
// three replays must give the bits of three direct launches. The update count is a launch argument, so a
// replayed graph repeats the update it was captured with: both paths run update 1 directly (L_i(0) is
// recorded, K = 1) and then update 2 three times, which only repeats Adam's bias correction. (A graph
// captured inside the L_i(0) window would add its losses into the loss sum on every replay.)
TEST(GradNormCudaUpdate, StepKernelsAreGraphCapturable) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = 3;
  const std::int64_t n = 10'000;
  Dev<float> p(T * n), y(T * n), g(T * n), wa(T), wb(T);
  p.upload(values<float>(T * n, 21, false));
  y.upload(values<float>(T * n, 22, false));
  wa.upload({1.0f, 1.0f, 1.0f});
  wb.upload({1.0f, 1.0f, 1.0f});
  std::vector<const float*> pp, yp;
  std::vector<float*> gp;
  std::vector<cuda::TaskPiece<float>> pieces;
  for (int t = 0; t < T; ++t) {
    pp.push_back(p.get() + t * n);
    yp.push_back(y.get() + t * n);
    gp.push_back(g.get() + t * n);
    pieces.push_back({t, g.get() + t * n, n});
  }
  cuda::TaskPieceTable<float> table;
  table.set(T, pieces, stream());  // uploads: before the capture
  Dev<double> losses(T), sq(T);
  Dev<int> flags(T);
  GradNormUpdateOptions opt;  // squared norms: per_task_sq_norms' output
  DeviceState state_a(T), state_b(T);
  auto step = [&](DeviceState& st, float* w, std::int64_t update) {
    cuda::multitask_mse<float>(T, n, pp.data(), yp.data(), w, losses.get(), gp.data(), stream());
    cuda::per_task_sq_norms<float>(table, sq.get(), flags.get(), stream());
    cuda::gradnorm_update<float>(T, losses.get(), sq.get(), flags.get(), st.b(), w, opt, update, stream());
  };
  step(state_a, wa.get(), 1);
  for (int k = 0; k < 3; ++k) step(state_a, wa.get(), 2);
  const auto direct = wa.download(T);
  const HostState a = state_a.read();

  step(state_b, wb.get(), 1);
  CUDA_OK(cudaStreamSynchronize(stream()));
  cudaGraph_t graph = nullptr;
  CUDA_OK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
  step(state_b, wb.get(), 2);
  CUDA_OK(cudaStreamEndCapture(stream(), &graph));
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (int k = 0; k < 3; ++k) CUDA_OK(cudaGraphLaunch(exec, stream()));
  CUDA_OK(cudaStreamSynchronize(stream()));
  const auto replayed = wb.download(T);
  const HostState b = state_b.read();
  CUDA_OK(cudaGraphExecDestroy(exec));
  CUDA_OK(cudaGraphDestroy(graph));

  ASSERT_EQ(a.status, kGradNormOk);
  EXPECT_EQ(b.status, kGradNormOk);
  EXPECT_EQ(std::memcmp(direct.data(), replayed.data(), sizeof(float) * T), 0);
  expect_same_bits(b.block, a.block, "graph replays vs direct launches");
}

// Argument errors throw on the host before anything is launched (the poisoned outputs stay NaN).
TEST(GradNormCudaUpdate, RejectsBadArguments) {
  GN_SKIP_WITHOUT_CUDA();
  DeviceState state(2);
  Dev<double> L(2), G(2), w(2);
  L.upload({1.0, 1.0});
  G.upload({1.0, 1.0});
  auto update = [&](int T, std::int64_t k, const GradNormUpdateOptions& o) {
    cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, state.b(), w.get(), o, k, stream());
  };
  const GradNormUpdateOptions ok;
  EXPECT_THROW(update(0, 1, ok), Error);
  EXPECT_THROW(update(-1, 1, ok), Error);
  EXPECT_THROW(update(cuda::kGradNormMaxTasks + 1, 1, ok), Error);
  EXPECT_THROW(update(2, 0, ok), Error);
  EXPECT_THROW(update(2, -5, ok), Error);
  GradNormUpdateOptions bad = ok;
  bad.lr = 0;
  EXPECT_THROW(update(2, 1, bad), Error);
  bad = ok;
  bad.min_weight = 0;
  EXPECT_THROW(update(2, 1, bad), Error);
  bad = ok;
  bad.initial_loss_steps = -1;
  EXPECT_THROW(update(2, 1, bad), Error);
  bad = ok;
  bad.alpha = kNaN;
  EXPECT_THROW(update(2, 1, bad), Error);
  EXPECT_THROW(cuda::gradnorm_update<double>(2, nullptr, G.get(), nullptr, state.b(), w.get(), ok, 1, stream()), Error);
  const HostState after = state.read();
  EXPECT_TRUE(std::isnan(after.block[10 * 2])) << "a rejected call launched the kernel (the norms were written)";
}

}  // namespace
}  // namespace gn

#else  // GN_WITH_CUDA

TEST(GradNormCudaUpdate, BuiltWithoutCuda) { GN_SKIP_WITHOUT_CUDA(); }

#endif  // GN_WITH_CUDA
