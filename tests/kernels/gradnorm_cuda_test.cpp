// The GradNorm CUDA kernels (kernels/cuda/task_norms, weighted_loss, gradnorm_update), every numbered
// variant, against the CPU references (kernels/cpu) at awkward sizes, outputs poisoned with NaN first.
//
// Two kinds of data: small integers in [-2, 2], where every sum stays an integer below 2^24, so float
// arithmetic is exact and the GPU must match the CPU bit for bit (any indexing slip shows, whatever the
// size); and normal values, checked against the float64 reference within a rounding bound derived from
// the dtype and the length of the longest sequential sum.
#include <gtest/gtest.h>

#include "core/device.h"

#ifdef GN_WITH_CUDA

#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"
#include "kernels/cuda/gradnorm_update.h"
#include "kernels/cuda/stream.h"
#include "kernels/cuda/task_norms.h"
#include "kernels/cuda/weighted_loss.h"
#include "kernels/error.h"

namespace gn {
namespace {

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

cudaStream_t stream() { return cuda::current_stream(); }

// Device array of n T; poison() sets every byte to 0xFF (NaN for float/double, -1 for int).
template <class T>
class Dev {
 public:
  explicit Dev(std::int64_t n) : n_(n) {
    if (n > 0 && cudaMalloc(&p_, sizeof(T) * static_cast<std::size_t>(n)) != cudaSuccess)
      throw Error("cudaMalloc failed in the test");
  }
  ~Dev() {
    cudaStreamSynchronize(stream());
    cudaFree(p_);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return p_; }
  void upload(const std::vector<T>& h, std::int64_t at = 0) {
    cudaMemcpyAsync(p_ + at, h.data(), sizeof(T) * h.size(), cudaMemcpyHostToDevice, stream());
    cudaStreamSynchronize(stream());
  }
  std::vector<T> download(std::int64_t count, std::int64_t at = 0) const {
    std::vector<T> h(static_cast<std::size_t>(count));
    cudaMemcpyAsync(h.data(), p_ + at, sizeof(T) * h.size(), cudaMemcpyDeviceToHost, stream());
    cudaStreamSynchronize(stream());
    return h;
  }
  void poison() { cudaMemsetAsync(p_, 0xFF, sizeof(T) * static_cast<std::size_t>(n_), stream()); }
  void zero() { cudaMemsetAsync(p_, 0, sizeof(T) * static_cast<std::size_t>(n_), stream()); }

 private:
  T* p_ = nullptr;
  std::int64_t n_;
};

template <class T>
std::vector<T> values(std::int64_t n, std::uint64_t seed, bool integers) {
  std::mt19937_64 gen(seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  std::uniform_int_distribution<int> small(-2, 2);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto& x : v) x = integers ? static_cast<T>(small(gen)) : static_cast<T>(normal(gen));
  return v;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

// A sum of non-negative terms with a longest sequential chain of `chain` additions has relative error at
// most chain * eps / 2; eps * (chain + 64) leaves a 2x margin plus room for squaring and the trees.
template <class T>
double sum_rtol(std::int64_t chain) {
  return std::numeric_limits<T>::epsilon() * static_cast<double>(chain + 64);
}

constexpr std::int64_t kBig = (1 << 20) + 7;
const std::int64_t kAwkward[] = {1, 31, 32, 33, 1023, kBig};
bool few_tasks(int T) { return T <= 3 || T == 7 || T == 16; }  // the 2^20 + 7 cases run at these T

// ---- per-task squared norms ----------------------------------------------------------------------

template <class T>
void check_task_norms(bool integers) {
  constexpr std::int64_t kPool = (std::int64_t{1} << 22) + 64;
  const std::vector<T> host = values<T>(kPool, integers ? 101 : 102, integers);
  Dev<T> pool(kPool);
  pool.upload(host);
  Dev<double> sq(16);
  Dev<int> flags(16);
  for (int num_tasks = 1; num_tasks <= 16; ++num_tasks)
    for (const std::int64_t n : kAwkward) {
      if (n == kBig && !few_tasks(num_tasks)) continue;
      // Task t: a weight piece of n elements and a bias piece of t % 3 (0: empty), at offsets that hit
      // every 16-byte misalignment, listed last task first and bias-first for odd t.
      std::vector<cpu::TaskPiece<T>> hp;
      std::vector<cuda::TaskPiece<T>> dp;
      std::vector<std::int64_t> elems(num_tasks, 0);
      auto add = [&](int t, std::int64_t off, std::int64_t len) {
        hp.push_back({t, host.data() + off, len});
        dp.push_back({t, pool.get() + off, len});
        elems[t] += len;
      };
      for (int t = num_tasks - 1; t >= 0; --t) {
        const std::int64_t off_w = (t * 104729 + n * 3) % (kPool - n - 16), off_b = (t * 7919 + 5) % (kPool - 16);
        if (t % 2) add(t, off_b, t % 3);
        add(t, off_w, n);
        if (t % 2 == 0) add(t, off_b, t % 3);
      }
      std::vector<double> ref(num_tasks);
      const auto ref_flags = std::make_unique<bool[]>(num_tasks);
      cpu::per_task_sq_norms<T>(num_tasks, hp, ref.data(), ref_flags.get());
      cuda::TaskPieceTable<T> table;
      table.set(num_tasks, dp, stream());
      for (int v = 1; v <= cuda::kTaskNormsVariants; ++v) {
        sq.poison();
        flags.poison();
        cuda::per_task_sq_norms_variant<T>(v, table, sq.get(), flags.get(), stream());
        const auto got = sq.download(num_tasks);
        const auto got_flags = flags.download(num_tasks);
        for (int t = 0; t < num_tasks; ++t) {
          if (integers)
            EXPECT_TRUE(same_bits(got[t], ref[t])) << got[t] << " vs " << ref[t];
          else
            EXPECT_NEAR(got[t], ref[t], sum_rtol<T>(elems[t] / 256 + 4) * ref[t]);
          EXPECT_EQ(got_flags[t], 0);
          if (::testing::Test::HasFailure()) FAIL() << "v" << v << " T=" << num_tasks << " n=" << n << " task " << t;
        }
      }
    }
}

TEST(GradNormCudaTaskNorms, MatchesCpuBitExactOnIntegersFloat) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_task_norms<float>(true);
}
TEST(GradNormCudaTaskNorms, MatchesCpuBitExactOnIntegersDouble) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_task_norms<double>(true);
}
TEST(GradNormCudaTaskNorms, MatchesFloat64ReferenceFloat) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_task_norms<float>(false);
}
TEST(GradNormCudaTaskNorms, MatchesFloat64ReferenceDouble) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_task_norms<double>(false);
}

TEST(GradNormCudaTaskNorms, DeterministicBits) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const std::int64_t n = 3'000'001;
  Dev<float> data(n);
  data.upload(values<float>(n, 5, false));
  const std::vector<cuda::TaskPiece<float>> pieces = {
      {0, data.get(), 2'000'000}, {1, data.get() + 2'000'000, 1'000'001}, {0, data.get() + 7, 999}};
  cuda::TaskPieceTable<float> table;
  table.set(2, pieces, stream());
  Dev<double> sq(2);
  Dev<int> flags(2);
  for (int v = 1; v <= cuda::kTaskNormsVariants; ++v) {
    cuda::per_task_sq_norms_variant<float>(v, table, sq.get(), flags.get(), stream());
    const auto first = sq.download(2);
    for (int run = 0; run < 3; ++run) {
      sq.poison();
      cuda::per_task_sq_norms_variant<float>(v, table, sq.get(), flags.get(), stream());
      const auto again = sq.download(2);
      EXPECT_TRUE(same_bits(first[0], again[0]) && same_bits(first[1], again[1])) << "v" << v << " run " << run;
    }
  }
}

TEST(GradNormCudaTaskNorms, FlagsNonFinitePerTask) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const std::int64_t n = 100'003;
  std::vector<float> h = values<float>(5 * n, 6, false);
  h[1 * n + 17] = std::numeric_limits<float>::quiet_NaN();
  h[3 * n + n - 1] = std::numeric_limits<float>::infinity();  // the last element of task 3
  h[4 * n] = -std::numeric_limits<float>::infinity();         // the first of task 4
  Dev<float> data(5 * n);
  data.upload(h);
  std::vector<cuda::TaskPiece<float>> pieces;
  for (int t = 0; t < 5; ++t) pieces.push_back({t, data.get() + t * n, n});
  cuda::TaskPieceTable<float> table;
  table.set(5, pieces, stream());
  Dev<double> sq(5);
  Dev<int> flags(5);
  for (int v = 1; v <= cuda::kTaskNormsVariants; ++v) {
    sq.poison();
    flags.poison();
    cuda::per_task_sq_norms_variant<float>(v, table, sq.get(), flags.get(), stream());
    const auto s = sq.download(5);
    const auto f = flags.download(5);
    EXPECT_EQ(f, (std::vector<int>{0, 1, 0, 1, 1})) << "v" << v;
    EXPECT_TRUE(std::isfinite(s[0]) && std::isfinite(s[2])) << "v" << v;
    EXPECT_TRUE(std::isnan(s[1])) << "v" << v;
    EXPECT_TRUE(std::isinf(s[3]) && std::isinf(s[4])) << "v" << v;
  }
}

TEST(GradNormCudaTaskNorms, EmptyPiecesAndTasksGiveZero) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  Dev<double> data(64);
  data.upload(std::vector<double>(64, 0.5));
  // Task 0: empty pieces only; task 1: one element; task 2: no pieces; task 3: an empty piece then 33.
  const std::vector<cuda::TaskPiece<double>> pieces = {
      {0, data.get(), 0}, {0, nullptr, 0}, {1, data.get() + 3, 1}, {3, data.get() + 1, 0}, {3, data.get() + 1, 33}};
  cuda::TaskPieceTable<double> table;
  table.set(4, pieces, stream());
  Dev<double> sq(4);
  Dev<int> flags(4);
  for (int v = 1; v <= cuda::kTaskNormsVariants; ++v) {
    sq.poison();
    flags.poison();
    cuda::per_task_sq_norms_variant<double>(v, table, sq.get(), flags.get(), stream());
    EXPECT_EQ(sq.download(4), (std::vector<double>{0.0, 0.25, 0.0, 33 * 0.25})) << "v" << v;
    EXPECT_EQ(flags.download(4), (std::vector<int>{0, 0, 0, 0})) << "v" << v;
  }
  // No pieces at all.
  table.set(3, {}, stream());
  for (int v = 1; v <= cuda::kTaskNormsVariants; ++v) {
    sq.poison();
    cuda::per_task_sq_norms_variant<double>(v, table, sq.get(), flags.get(), stream());
    EXPECT_EQ(sq.download(3), (std::vector<double>{0.0, 0.0, 0.0})) << "v" << v;
  }
}

TEST(GradNormCudaTaskNorms, TableUploadsOnlyWhenPiecesChange) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  Dev<float> data(1000);
  std::vector<cuda::TaskPiece<float>> pieces = {{0, data.get(), 500}, {1, data.get() + 500, 500}};
  cuda::TaskPieceTable<float> table;
  EXPECT_TRUE(table.set(2, pieces, stream()));
  EXPECT_FALSE(table.set(2, pieces, stream()));
  EXPECT_EQ(table.uploads(), 1);
  pieces[1].n = 499;
  EXPECT_TRUE(table.set(2, pieces, stream()));
  EXPECT_FALSE(table.set(2, pieces, stream()));
  EXPECT_TRUE(table.set(3, pieces, stream()));  // same pieces, another task count
  EXPECT_EQ(table.uploads(), 3);
  EXPECT_EQ(table.total_elements(), 999);
}

TEST(GradNormCudaTaskNorms, RejectsBadPieces) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  Dev<float> data(16);
  cuda::TaskPieceTable<float> table;
  const std::vector<cuda::TaskPiece<float>> out_of_range = {{2, data.get(), 4}};
  EXPECT_THROW(table.set(2, out_of_range, stream()), Error);
  const std::vector<cuda::TaskPiece<float>> negative = {{0, data.get(), -1}};
  EXPECT_THROW(table.set(1, negative, stream()), Error);
  const std::vector<cuda::TaskPiece<float>> null_data = {{0, nullptr, 3}};
  EXPECT_THROW(table.set(1, null_data, stream()), Error);
  Dev<double> sq(1);
  Dev<int> flags(1);
  EXPECT_THROW(cuda::per_task_sq_norms_variant<float>(0, table, sq.get(), flags.get(), stream()), Error);
  EXPECT_THROW(
      cuda::per_task_sq_norms_variant<float>(cuda::kTaskNormsVariants + 1, table, sq.get(), flags.get(), stream()),
      Error);
}

// Totals beyond 2^31 elements: 40 pieces aliasing one 2^26-element buffer (zeros except markers at both
// ends, so every sum is exact). v2..v5 only: v1 reads each task with one block, which at 2.7G elements
// takes seconds; its loop indexes within one piece (64-bit, as checked at 2^20 + 7 above).
TEST(GradNormCudaTaskNorms, TotalsBeyond2To31Elements) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const std::int64_t n = std::int64_t{1} << 26;
  Dev<float> data(n);
  data.zero();
  data.upload({1.5f, -2.0f, 0.5f, 3.0f, -1.0f}, 0);                   // squares sum to 16.5
  data.upload({2.0f, 2.0f, -0.5f, 1.0f, 1.0f, -3.0f, 0.25f}, n - 7);  // squares sum to 19.3125
  const double one = 16.5 + 19.3125;
  std::vector<cuda::TaskPiece<float>> pieces;
  for (int k = 0; k < 40; ++k) pieces.push_back({0, data.get(), n});
  pieces.push_back({1, data.get(), n});
  cuda::TaskPieceTable<float> table;
  table.set(2, pieces, stream());
  ASSERT_GT(table.total_elements(), std::int64_t{1} << 31);
  Dev<double> sq(2);
  Dev<int> flags(2);
  for (int v = 2; v <= cuda::kTaskNormsVariants; ++v) {
    sq.poison();
    cuda::per_task_sq_norms_variant<float>(v, table, sq.get(), flags.get(), stream());
    EXPECT_EQ(sq.download(2), (std::vector<double>{40 * one, one})) << "v" << v;
  }
}

// One piece longer than 2^31 elements (8.6 GB of float; skipped when the device has less free memory):
// the chunk offsets past 2^31 must reach the markers at the far end.
TEST(GradNormCudaTaskNorms, PieceLongerThan2To31Elements) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const std::int64_t n = (std::int64_t{1} << 31) + 33;
  std::size_t free_bytes = 0, total_bytes = 0;
  CUDA_OK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (free_bytes < sizeof(float) * static_cast<std::size_t>(n) + (std::size_t{2} << 30))
    GTEST_SKIP() << "needs ~" << (sizeof(float) * n >> 30) + 2 << " GB of free device memory";
  Dev<float> data(n);
  data.zero();
  data.upload({3.0f}, 0);
  data.upload(std::vector<float>(33, 0.5f), n - 33);  // all past 2^31
  const std::vector<cuda::TaskPiece<float>> pieces = {{0, data.get(), n}};
  cuda::TaskPieceTable<float> table;
  table.set(1, pieces, stream());
  Dev<double> sq(1);
  Dev<int> flags(1);
  for (int v = 2; v <= cuda::kTaskNormsVariants; ++v) {
    sq.poison();
    cuda::per_task_sq_norms_variant<float>(v, table, sq.get(), flags.get(), stream());
    EXPECT_EQ(sq.download(1)[0], 9.0 + 33 * 0.25) << "v" << v;
  }
}

TEST(GradNormCudaTaskNorms, DefaultEntryPointMatchesItsVariant) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  Dev<float> data(5000);
  data.upload(values<float>(5000, 9, false));
  const std::vector<cuda::TaskPiece<float>> pieces = {{0, data.get(), 3000}, {1, data.get() + 3000, 2000}};
  cuda::TaskPieceTable<float> table;
  table.set(2, pieces, stream());
  Dev<double> a(2), b(2);
  Dev<int> flags(2);
  cuda::per_task_sq_norms<float>(table, a.get(), flags.get(), stream());
  cuda::per_task_sq_norms_variant<float>(cuda::kTaskNormsDefaultVariant, table, b.get(), flags.get(), stream());
  const auto x = a.download(2), y = b.download(2);
  EXPECT_TRUE(same_bits(x[0], y[0]) && same_bits(x[1], y[1]));
}

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
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_combine<float>(true);
}
TEST(GradNormCudaCombine, MatchesCpuBitExactOnIntegersDouble) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_combine<double>(true);
}
TEST(GradNormCudaCombine, MatchesFloat64ReferenceFloat) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_combine<float>(false);
}
TEST(GradNormCudaCombine, MatchesFloat64ReferenceDouble) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_combine<double>(false);
}

TEST(GradNormCudaCombine, DeterministicBits) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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
        std::vector<std::vector<double>> pd(num_tasks), yd(num_tasks);
        std::vector<const double*> pp(num_tasks), yp(num_tasks);
        std::vector<double*> gp(num_tasks);
        const std::vector<double> wd(w_host.begin(), w_host.end());
        for (int t = 0; t < num_tasks; ++t) {
          pd[t].assign(hp[t], hp[t] + n);
          yd[t].assign(hy[t], hy[t] + n);
          pp[t] = pd[t].data();
          yp[t] = yd[t].data();
          gp[t] = ref_g[t].data();
        }
        cpu::multitask_mse<double>(num_tasks, n, pp.data(), yp.data(), wd.data(), ref_loss.data(), gp.data());
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
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_mse<float>(true);
}
TEST(GradNormCudaMultitaskMse, MatchesCpuBitExactOnIntegersDouble) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_mse<double>(true);
}
TEST(GradNormCudaMultitaskMse, MatchesFloat64ReferenceFloat) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_mse<float>(false);
}
TEST(GradNormCudaMultitaskMse, MatchesFloat64ReferenceDouble) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  check_mse<double>(false);
}

TEST(GradNormCudaMultitaskMse, DeterministicBitsAndRepeatedCalls) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  const int T = cuda::kMaxFusedTasks + 1;
  std::vector<const float*> p(T, nullptr);
  std::vector<float*> g(T, nullptr);
  EXPECT_THROW(cuda::multitask_mse<float>(T, 0, p.data(), p.data(), nullptr, nullptr, g.data(), stream()), Error);
}

// ---- the GradNorm update on the device -----------------------------------------------------------

// The CPU sequence the kernel reproduces: multitask/gradnorm.cpp with first-step L_i(0) and Adam.
struct CpuGradNorm {
  int T;
  std::vector<double> L0, m, v, ratio, rate, target, dw;
  double lgrad = 0;
  explicit CpuGradNorm(int t) : T(t), m(t, 0.0), v(t, 0.0), ratio(t), rate(t), target(t), dw(t) {}
  template <class W>
  void step(const std::vector<double>& L, const std::vector<double>& G, std::vector<W>& w,
            const cuda::GradNormUpdateOptions& o, std::int64_t k) {
    if (L0.empty()) L0 = L;
    std::vector<double> wd(w.begin(), w.end());
    lgrad = cpu::gradnorm_weight_grad(T, L.data(), L0.data(), G.data(), wd.data(), o.alpha,
                                      {ratio.data(), rate.data(), target.data(), dw.data()});
    cpu::adam_step<double>(T, wd.data(), dw.data(), m.data(), v.data(), o.lr, o.beta1, o.beta2, o.eps, 0.0, k);
    cpu::renormalize_weights<double>(T, wd.data(), o.min_weight);
    for (int i = 0; i < T; ++i) w[i] = static_cast<W>(wd[i]);
  }
};

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

TEST(GradNormCuda, BuiltWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }

#endif  // GN_WITH_CUDA
