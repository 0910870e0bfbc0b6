// The GradNorm CUDA kernels (kernels/cuda/task_norms, weighted_loss, gradnorm_update), every numbered
// variant, against the CPU references (kernels/cpu) at awkward sizes, outputs poisoned with NaN first.
//
// Two kinds of data: small integers in [-2, 2], where every sum stays an integer below 2^24, so float
// arithmetic is exact and the GPU must match the CPU bit for bit (any indexing slip shows, whatever the
// size); and normal values, checked against the float64 reference within a rounding bound derived from
// the dtype and the length of the longest sequential sum.
//
// This file: the fused combine and multitask MSE (weighted_loss.cu).
#include <gtest/gtest.h>

#include "core/device.h"
#include "tests/cuda_test_support.h"

#ifdef GN_WITH_CUDA

#include "gradnorm_cuda_support.h"

namespace gn {
namespace {

// ---- combine_task_blocks -------------------------------------------------------------------------

template <class T>
void check_combine(bool integers) {
  const std::int64_t pool_n = 16 * kBig + 64;
  const std::vector<T> host = values<T>(pool_n, integers ? 201 : 202, integers);
  Dev<T> pool(pool_n);
  pool.upload(host);
  std::vector<T> w_host(16);
  for (int t = 0; t < 16; ++t) w_host[t] = integers ? static_cast<T>(1 + t % 3) : static_cast<T>(0.1 + 0.37 * t);
  Dev<T> w(16);
  w.upload(w_host);
  Dev<T> out(kBig + 64);
  for (int num_tasks = 1; num_tasks <= 16; ++num_tasks)
    for (const std::int64_t D : {std::int64_t{1}, std::int64_t{31}, std::int64_t{32}, std::int64_t{33},
                                 std::int64_t{100}, std::int64_t{1023}, std::int64_t{1024}, kBig})
      for (const std::int64_t B : {std::int64_t{1}, std::int64_t{3}}) {
        if (D == kBig && (B > 1 || !few_tasks(num_tasks))) continue;
        for (const bool weighted : {false, true}) {
          const std::int64_t off = D % 2 == 0 ? 0 : 1, n_in = B * num_tasks * D, n_out = B * D;
          const T* x = host.data() + off;
          std::vector<T> ref_t(n_out);
          std::vector<double> ref(n_out), bound(n_out, 0.0);
          if (integers) {
            cpu::combine_task_blocks<T>(B, num_tasks, D, x, weighted ? w_host.data() : nullptr, ref_t.data());
          } else {
            const std::vector<double> xd(x, x + n_in), wd(w_host.begin(), w_host.end());
            cpu::combine_task_blocks<double>(B, num_tasks, D, xd.data(), weighted ? wd.data() : nullptr, ref.data());
            for (std::int64_t b = 0; b < B; ++b)
              for (int t = 0; t < num_tasks; ++t)
                for (std::int64_t j = 0; j < D; ++j)
                  bound[b * D + j] += std::abs((weighted ? wd[t] : 1.0) * xd[(b * num_tasks + t) * D + j]);
          }
          for (int v = 1; v <= cuda::kCombineVariants; ++v) {
            out.poison();
            cuda::combine_task_blocks_variant<T>(v, B, num_tasks, D, pool.get() + off, weighted ? w.get() : nullptr,
                                                 out.get() + off, stream());
            const auto got = out.download(n_out + 1, off);
            std::int64_t bad = 0;
            for (std::int64_t i = 0; i < n_out; ++i) {
              const bool ok = integers ? same_bits(got[i], ref_t[i])
                                       : std::abs(got[i] - ref[i]) <=
                                             std::numeric_limits<T>::epsilon() * (num_tasks + 2) * bound[i];
              if (!ok && bad++ == 0)
                ADD_FAILURE() << "element " << i << ": " << got[i] << " vs " << (integers ? ref_t[i] : ref[i]);
            }
            EXPECT_EQ(bad, 0);
            EXPECT_TRUE(std::isnan(got[n_out])) << "wrote past the end of out";
            if (::testing::Test::HasFailure())
              FAIL() << "v" << v << " B=" << B << " T=" << num_tasks << " D=" << D << (weighted ? " w" : " w=null");
          }
        }
      }
}

TEST(GradNormCudaCombine, MatchesCpuBitExactOnIntegersFloat) {
  GN_SKIP_WITHOUT_CUDA();
  check_combine<float>(true);
}
TEST(GradNormCudaCombine, MatchesCpuBitExactOnIntegersDouble) {
  GN_SKIP_WITHOUT_CUDA();
  check_combine<double>(true);
}
TEST(GradNormCudaCombine, MatchesFloat64ReferenceFloat) {
  GN_SKIP_WITHOUT_CUDA();
  check_combine<float>(false);
}
TEST(GradNormCudaCombine, MatchesFloat64ReferenceDouble) {
  GN_SKIP_WITHOUT_CUDA();
  check_combine<double>(false);
}

TEST(GradNormCudaCombine, DeterministicBits) {
  GN_SKIP_WITHOUT_CUDA();
  const std::int64_t B = 257, D = 1000;
  const int T = 5;
  Dev<float> deltas(B * T * D), w(T), out(B * D);
  deltas.upload(values<float>(B * T * D, 13, false));
  w.upload({0.2f, 0.7f, 1.1f, 1.3f, 1.7f});
  for (int v = 1; v <= cuda::kCombineVariants; ++v) {
    cuda::combine_task_blocks_variant<float>(v, B, T, D, deltas.get(), w.get(), out.get(), stream());
    const auto first = out.download(B * D);
    out.poison();
    cuda::combine_task_blocks_variant<float>(v, B, T, D, deltas.get(), w.get(), out.get(), stream());
    EXPECT_EQ(std::memcmp(first.data(), out.download(B * D).data(), sizeof(float) * B * D), 0) << "v" << v;
  }
}

// ---- multitask_mse -------------------------------------------------------------------------------

template <class T>
void check_mse(bool integers) {
  constexpr std::int64_t kPool = (std::int64_t{1} << 22) + 64;
  const std::vector<T> host = values<T>(kPool, integers ? 301 : 302, integers);
  Dev<T> pool(kPool);
  pool.upload(host);
  std::vector<T> w_host(16);
  for (int t = 0; t < 16; ++t) w_host[t] = integers ? static_cast<T>(1 + t % 3) : static_cast<T>(0.1 + 0.37 * t);
  Dev<T> w(16);
  w.upload(w_host);
  Dev<T> grads(16 * (kBig + 64));
  Dev<double> losses(16);
  for (int num_tasks = 1; num_tasks <= 16; ++num_tasks)
    for (const std::int64_t n : {std::int64_t{0}, std::int64_t{1}, std::int64_t{31}, std::int64_t{32}, std::int64_t{33},
                                 std::int64_t{1023}, std::int64_t{10000}, kBig}) {
      if (n == kBig && !few_tasks(num_tasks)) continue;
      // t % 4 == 0: pred, target and grad 16-byte aligned (the packed path); else misaligned by t % 4.
      std::vector<const T*> hp(num_tasks), hy(num_tasks), dp(num_tasks), dy(num_tasks);
      std::vector<T*> dg(num_tasks);
      std::vector<std::int64_t> g_off(num_tasks);
      const std::int64_t g_stride = n + 64;
      for (int t = 0; t < num_tasks; ++t) {
        const std::int64_t mis = t % 4, span = kPool - n - 64;
        const std::int64_t op = (t * 1048583 % span) / 4 * 4 + mis, oy = ((t * 524309 + 77) % span) / 4 * 4 + mis;
        hp[t] = host.data() + op;
        hy[t] = host.data() + oy;
        dp[t] = pool.get() + op;
        dy[t] = pool.get() + oy;
        g_off[t] = t * g_stride + mis;
        dg[t] = grads.get() + g_off[t];
      }
      std::vector<double> ref_loss(num_tasks);
      std::vector<std::vector<double>> ref_g(num_tasks, std::vector<double>(n));
      if (integers) {
        std::vector<std::vector<T>> g(num_tasks, std::vector<T>(n));
        std::vector<T*> gp(num_tasks);
        for (int t = 0; t < num_tasks; ++t) gp[t] = g[t].data();
        cpu::multitask_mse<T>(num_tasks, n, hp.data(), hy.data(), w_host.data(), ref_loss.data(), gp.data());
        for (int t = 0; t < num_tasks; ++t) ref_g[t].assign(g[t].begin(), g[t].end());
      } else {
        std::vector<double*> gp(num_tasks);
        for (int t = 0; t < num_tasks; ++t) gp[t] = ref_g[t].data();
        cpu::multitask_mse_float64<T>(num_tasks, n, hp.data(), hy.data(), w_host.data(), ref_loss.data(), gp.data());
      }
      for (int v = 1; v <= cuda::kMultitaskMseVariants; ++v) {
        grads.poison();
        losses.poison();
        cuda::multitask_mse_variant<T>(v, num_tasks, n, dp.data(), dy.data(), w.get(), losses.get(), dg.data(),
                                       stream());
        const auto got_loss = losses.download(num_tasks);
        const auto got_g = grads.download(num_tasks * g_stride);
        for (int t = 0; t < num_tasks; ++t) {
          if (integers)
            EXPECT_TRUE(same_bits(got_loss[t], ref_loss[t])) << got_loss[t] << " vs " << ref_loss[t];
          else
            EXPECT_NEAR(got_loss[t], ref_loss[t], sum_rtol<T>(n / 256 + 4) * ref_loss[t]);
          std::int64_t bad = 0;
          for (std::int64_t j = 0; j < n; ++j) {
            const double g = got_g[g_off[t] + j], r = ref_g[t][j];
            const bool ok = integers ? same_bits(g, r)
                                     : std::abs(g - r) <= 4 * std::numeric_limits<T>::epsilon() * std::abs(r) + 1e-300;
            if (!ok && bad++ == 0) ADD_FAILURE() << "grad " << j << ": " << g << " vs " << r;
          }
          EXPECT_EQ(bad, 0);
          EXPECT_TRUE(std::isnan(got_g[g_off[t] + n])) << "wrote past the end of its gradient";
          if (::testing::Test::HasFailure()) FAIL() << "v" << v << " T=" << num_tasks << " n=" << n << " task " << t;
        }
      }
    }
}

TEST(GradNormCudaMultitaskMse, MatchesCpuBitExactOnIntegersFloat) {
  GN_SKIP_WITHOUT_CUDA();
  check_mse<float>(true);
}
TEST(GradNormCudaMultitaskMse, MatchesCpuBitExactOnIntegersDouble) {
  GN_SKIP_WITHOUT_CUDA();
  check_mse<double>(true);
}
TEST(GradNormCudaMultitaskMse, MatchesFloat64ReferenceFloat) {
  GN_SKIP_WITHOUT_CUDA();
  check_mse<float>(false);
}
TEST(GradNormCudaMultitaskMse, MatchesFloat64ReferenceDouble) {
  GN_SKIP_WITHOUT_CUDA();
  check_mse<double>(false);
}

TEST(GradNormCudaMultitaskMse, DeterministicBitsAndRepeatedCalls) {
  GN_SKIP_WITHOUT_CUDA();
  // Repeated calls also check that v3's arrival counters are reset after each launch.
  const int T = 3;
  const std::int64_t n = 2'500'003;
  Dev<float> p(T * n), y(T * n), g(T * n), w(T);
  p.upload(values<float>(T * n, 11, false));
  y.upload(values<float>(T * n, 12, false));
  w.upload({0.5f, 1.0f, 1.5f});
  std::vector<const float*> pp, yp;
  std::vector<float*> gp;
  for (int t = 0; t < T; ++t) {
    pp.push_back(p.get() + t * n);
    yp.push_back(y.get() + t * n);
    gp.push_back(g.get() + t * n);
  }
  Dev<double> losses(T);
  for (int v = 1; v <= cuda::kMultitaskMseVariants; ++v) {
    cuda::multitask_mse_variant<float>(v, T, n, pp.data(), yp.data(), w.get(), losses.get(), gp.data(), stream());
    const auto first = losses.download(T);
    for (int run = 0; run < 3; ++run) {
      losses.poison();
      cuda::multitask_mse_variant<float>(v, T, n, pp.data(), yp.data(), w.get(), losses.get(), gp.data(), stream());
      const auto again = losses.download(T);
      for (int t = 0; t < T; ++t) EXPECT_TRUE(same_bits(first[t], again[t])) << "v" << v << " run " << run;
    }
  }
}

TEST(GradNormCudaMultitaskMse, RejectsTooManyTasks) {
  GN_SKIP_WITHOUT_CUDA();
  const int T = cuda::kMaxFusedTasks + 1;
  std::vector<const float*> p(T, nullptr);
  std::vector<float*> g(T, nullptr);
  EXPECT_THROW(cuda::multitask_mse<float>(T, 0, p.data(), p.data(), nullptr, nullptr, g.data(), stream()), Error);
}

}  // namespace
}  // namespace gn

#else  // GN_WITH_CUDA

TEST(GradNormCudaLoss, BuiltWithoutCuda) { GN_SKIP_WITHOUT_CUDA(); }

#endif  // GN_WITH_CUDA
