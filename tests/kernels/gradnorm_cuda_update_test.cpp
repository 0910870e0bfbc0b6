// The GradNorm CUDA kernels (kernels/cuda/task_norms, weighted_loss, gradnorm_update), every numbered
// variant, against the CPU references (kernels/cpu) at awkward sizes, outputs poisoned with NaN first.
//
// Two kinds of data: small integers in [-2, 2], where every sum stays an integer below 2^24, so float
// arithmetic is exact and the GPU must match the CPU bit for bit (any indexing slip shows, whatever the
// size); and normal values, checked against the float64 reference within a rounding bound derived from
// the dtype and the length of the longest sequential sum.
//
// This file: the GradNorm weight update on the device (gradnorm_update.cu).
#include <gtest/gtest.h>

#include "core/device.h"

#ifdef GN_WITH_CUDA

#include "gradnorm_cuda_support.h"

namespace gn {
namespace {

// ---- the GradNorm update on the device -----------------------------------------------------------

using CpuGradNorm = cpu::GradNormReference;  // kernels/cpu/gradnorm_update.h

void step_inputs(int T, int k, const std::vector<double>& w, std::vector<double>& L, std::vector<double>& G) {
  L.resize(T);
  G.resize(T);
  for (int i = 0; i < T; ++i) {
    L[i] = (1.0 + i) * std::exp(-0.05 * (1 + i % 5) * k) + 0.01 * std::sin(3.0 * k + i);
    G[i] = w[i] * (0.5 + 0.3 * i + 0.2 * std::cos(0.7 * k + i));
  }
}

template <class W>
void check_update_sequence() {
  const double rtol = sizeof(W) == 8 ? 1e-11 : 4e-6;
  for (const int T : {1, 2, 3, 5, 16}) {
    for (const bool squared : {false, true}) {
      cuda::GradNormUpdateOptions opt;
      opt.alpha = 0.12 + 0.5 * (T % 3);
      opt.squared_norms = squared;
      cuda::GradNormDeviceState state(T, stream());
      CpuGradNorm ref(T);
      std::vector<W> w_ref(T, W(1));
      Dev<W> w(T);
      w.upload(w_ref);
      Dev<double> L_d(T), G_d(T);
      for (int k = 1; k <= 12; ++k) {
        std::vector<double> L, G;
        step_inputs(T, k, std::vector<double>(w_ref.begin(), w_ref.end()), L, G);
        std::vector<double> G_in = G;
        if (squared)
          for (auto& g : G_in) g *= g;
        L_d.upload(L);
        G_d.upload(G_in);
        cuda::gradnorm_update<W>(T, L_d.get(), G_d.get(), nullptr, w.get(), state, opt, k, stream());
        ref.step(L, G, w_ref, opt, k);
        const auto got = w.download(T);
        const auto d = state.read(stream());
        ASSERT_EQ(d.status, cuda::kGradNormOk);
        ASSERT_TRUE(d.initialized);
        double sum = 0;
        for (int i = 0; i < T; ++i) {
          EXPECT_NEAR(got[i], w_ref[i], rtol * std::abs(static_cast<double>(w_ref[i])));
          EXPECT_GT(got[i], W(0));
          sum += static_cast<double>(got[i]);
          EXPECT_DOUBLE_EQ(d.initial_losses[i], ref.L0[i]);
          if (sizeof(W) == 8) {
            EXPECT_NEAR(d.loss_ratio[i], ref.ratio[i], 1e-12 * std::abs(ref.ratio[i]));
            EXPECT_NEAR(d.inverse_rate[i], ref.rate[i], 1e-12 * std::abs(ref.rate[i]));
            EXPECT_NEAR(d.target[i], ref.target[i], 1e-12 * std::abs(ref.target[i]));
            EXPECT_NEAR(d.weight_grad[i], ref.dw[i], 1e-12 * std::abs(ref.dw[i]));
            EXPECT_NEAR(d.adam_m[i], ref.m[i], 1e-12 * std::abs(ref.m[i]) + 1e-300);
            EXPECT_NEAR(d.norms[i], G[i], 1e-14 * G[i]);
          }
        }
        if (sizeof(W) == 8) {
          EXPECT_NEAR(d.lgrad, ref.lgrad, 1e-12 * std::abs(ref.lgrad) + 1e-15);
        }
        EXPECT_NEAR(sum, T, 8 * T * std::numeric_limits<W>::epsilon());
        if (::testing::Test::HasFailure()) FAIL() << "T=" << T << " squared=" << squared << " step " << k;
      }
    }
  }
}

TEST(GradNormCudaUpdate, MatchesCpuSequenceDoubleWeights) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_update_sequence<double>();
}
TEST(GradNormCudaUpdate, MatchesCpuSequenceFloatWeights) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_update_sequence<float>();
}

TEST(GradNormCudaUpdate, RecordsInitialLossesOnFirstStepOnly) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const int T = 3;
  cuda::GradNormDeviceState state(T, stream());
  EXPECT_FALSE(state.read(stream()).initialized);
  Dev<double> L(T), G(T), w(T);
  G.upload({1.0, 2.0, 3.0});
  w.upload({1.0, 1.0, 1.0});
  L.upload({2.0, 4.0, 8.0});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, w.get(), state, {}, 1, stream());
  auto d = state.read(stream());
  EXPECT_TRUE(d.initialized);
  EXPECT_EQ(d.initial_losses, (std::vector<double>{2.0, 4.0, 8.0}));
  EXPECT_EQ(d.loss_ratio, (std::vector<double>{1.0, 1.0, 1.0}));
  L.upload({1.0, 1.0, 1.0});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, w.get(), state, {}, 2, stream());
  d = state.read(stream());
  EXPECT_EQ(d.initial_losses, (std::vector<double>{2.0, 4.0, 8.0}));
  EXPECT_EQ(d.loss_ratio, (std::vector<double>{0.5, 0.25, 0.125}));
  state.reset(stream());
  EXPECT_FALSE(state.read(stream()).initialized);
}

TEST(GradNormCudaUpdate, NonFiniteInputLeavesStateUntouched) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const int T = 2;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  cuda::GradNormDeviceState state(T, stream());
  Dev<double> L(T), G(T), w(T);
  Dev<int> flags(T);
  w.upload({0.5, 1.5});
  G.upload({1.0, 2.0});
  L.upload({nan, 1.0});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, w.get(), state, {}, 1, stream());
  auto d = state.read(stream());
  EXPECT_EQ(d.status, cuda::kGradNormNonFiniteInput);
  EXPECT_FALSE(d.initialized);
  EXPECT_EQ(w.download(T), (std::vector<double>{0.5, 1.5}));
  EXPECT_EQ(d.adam_m, (std::vector<double>{0.0, 0.0}));
  // A norm flagged non-finite by per_task_sq_norms counts too.
  L.upload({1.0, 1.0});
  flags.upload({0, 1});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), flags.get(), w.get(), state, {}, 1, stream());
  EXPECT_EQ(state.read(stream()).status, cuda::kGradNormNonFiniteInput);
  EXPECT_EQ(w.download(T), (std::vector<double>{0.5, 1.5}));
  // A non-finite weight after the Adam step (here: a NaN weight going in) is refused as well.
  w.upload({nan, 1.5});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, w.get(), state, {}, 1, stream());
  d = state.read(stream());
  EXPECT_EQ(d.status, cuda::kGradNormNonFiniteWeight);
  EXPECT_FALSE(d.initialized);
  EXPECT_EQ(w.download(T)[1], 1.5);
  // And a good step afterwards works.
  w.upload({0.5, 1.5});
  cuda::gradnorm_update<double>(T, L.get(), G.get(), nullptr, w.get(), state, {}, 1, stream());
  EXPECT_EQ(state.read(stream()).status, cuda::kGradNormOk);
}

TEST(GradNormCudaUpdate, WeightsStayPositiveAndSumToT) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const int T = 4;
  cuda::GradNormUpdateOptions opt;
  opt.lr = 0.5;  // large steps, so the floor is hit
  opt.min_weight = 1e-3;
  cuda::GradNormDeviceState state(T, stream());
  Dev<float> w(T);
  w.upload(std::vector<float>(T, 1.0f));
  Dev<double> L(T), G(T);
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(0.01, 100.0);
  for (int k = 1; k <= 200; ++k) {
    std::vector<double> Lh(T), Gh(T);
    for (int i = 0; i < T; ++i) {
      Lh[i] = u(gen);
      Gh[i] = u(gen);
    }
    L.upload(Lh);
    G.upload(Gh);
    cuda::gradnorm_update<float>(T, L.get(), G.get(), nullptr, w.get(), state, opt, k, stream());
  }
  ASSERT_EQ(state.read(stream()).status, cuda::kGradNormOk);
  const auto got = w.download(T);
  double sum = 0;
  for (float x : got) {
    EXPECT_GT(x, 0.0f);
    sum += x;
  }
  EXPECT_NEAR(sum, T, 1e-5);
}

// The device half of a GradNorm step (fused MSE -> per-task norms of its gradients -> weight update)
// captured in a CUDA graph: capture fails if any of them synchronises with the host or allocates, and
// three replays must give the bits of three direct launches. (The Adam step count is a launch argument,
// so a replayed graph repeats the step it was captured with; here both paths use step 1.)
TEST(GradNormCudaUpdate, StepKernelsAreGraphCapturable) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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
  cuda::GradNormUpdateOptions opt;
  opt.squared_norms = true;
  cuda::GradNormDeviceState state_a(T, stream()), state_b(T, stream());
  auto step = [&](cuda::GradNormDeviceState& st, float* w) {
    cuda::multitask_mse<float>(T, n, pp.data(), yp.data(), w, losses.get(), gp.data(), stream());
    cuda::per_task_sq_norms<float>(table, sq.get(), flags.get(), stream());
    cuda::gradnorm_update<float>(T, losses.get(), sq.get(), flags.get(), w, st, opt, 1, stream());
  };
  for (int k = 0; k < 3; ++k) step(state_a, wa.get());
  const auto direct = wa.download(T);
  const auto diag_a = state_a.read(stream());

  CUDA_OK(cudaStreamSynchronize(stream()));
  cudaGraph_t graph = nullptr;
  CUDA_OK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
  step(state_b, wb.get());
  CUDA_OK(cudaStreamEndCapture(stream(), &graph));
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (int k = 0; k < 3; ++k) CUDA_OK(cudaGraphLaunch(exec, stream()));
  CUDA_OK(cudaStreamSynchronize(stream()));
  const auto replayed = wb.download(T);
  const auto diag_b = state_b.read(stream());
  CUDA_OK(cudaGraphExecDestroy(exec));
  CUDA_OK(cudaGraphDestroy(graph));

  ASSERT_EQ(diag_a.status, cuda::kGradNormOk);
  EXPECT_EQ(diag_b.status, cuda::kGradNormOk);
  EXPECT_EQ(std::memcmp(direct.data(), replayed.data(), sizeof(float) * T), 0);
  EXPECT_EQ(diag_a.lgrad, diag_b.lgrad);
  EXPECT_EQ(diag_a.initial_losses, diag_b.initial_losses);
}

TEST(GradNormCudaUpdate, RejectsBadArguments) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  EXPECT_THROW(cuda::GradNormDeviceState(0, stream()), Error);
  EXPECT_THROW(cuda::GradNormDeviceState(cuda::kGradNormMaxTasks + 1, stream()), Error);
  cuda::GradNormDeviceState state(2, stream());
  Dev<double> L(2), G(2), w(2);
  EXPECT_THROW(cuda::gradnorm_update<double>(3, L.get(), G.get(), nullptr, w.get(), state, {}, 1, stream()), Error);
  EXPECT_THROW(cuda::gradnorm_update<double>(2, L.get(), G.get(), nullptr, w.get(), state, {}, 0, stream()), Error);
}

}  // namespace
}  // namespace gn

#else  // GN_WITH_CUDA

TEST(GradNormCudaUpdate, BuiltWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }

#endif  // GN_WITH_CUDA
