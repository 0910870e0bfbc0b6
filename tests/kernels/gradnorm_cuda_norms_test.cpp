// The GradNorm CUDA kernels (kernels/cuda/task_norms, weighted_loss, gradnorm_update), every numbered
// variant, against the CPU references (kernels/cpu) at awkward sizes, outputs poisoned with NaN first.
//
// Two kinds of data: small integers in [-2, 2], where every sum stays an integer below 2^24, so float
// arithmetic is exact and the GPU must match the CPU bit for bit (any indexing slip shows, whatever the
// size); and normal values, checked against the float64 reference within a rounding bound derived from
// the dtype and the length of the longest sequential sum.
//
// This file: the per-task norm reduction (task_norms.cu, v1-v5).
#include <gtest/gtest.h>

#include "core/device.h"
#include "tests/cuda_test_support.h"

#ifdef GN_WITH_CUDA

#include "gradnorm_cuda_support.h"

namespace gn {
namespace {

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
  GN_SKIP_WITHOUT_CUDA();
  check_task_norms<float>(true);
}
TEST(GradNormCudaTaskNorms, MatchesCpuBitExactOnIntegersDouble) {
  GN_SKIP_WITHOUT_CUDA();
  check_task_norms<double>(true);
}
TEST(GradNormCudaTaskNorms, MatchesFloat64ReferenceFloat) {
  GN_SKIP_WITHOUT_CUDA();
  check_task_norms<float>(false);
}
TEST(GradNormCudaTaskNorms, MatchesFloat64ReferenceDouble) {
  GN_SKIP_WITHOUT_CUDA();
  check_task_norms<double>(false);
}

TEST(GradNormCudaTaskNorms, DeterministicBits) {
  GN_SKIP_WITHOUT_CUDA();
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
  GN_SKIP_WITHOUT_CUDA();
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
  GN_SKIP_WITHOUT_CUDA();
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
  GN_SKIP_WITHOUT_CUDA();
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
  GN_SKIP_WITHOUT_CUDA();
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
  GN_SKIP_WITHOUT_CUDA();
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
  GN_SKIP_WITHOUT_CUDA();
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
  GN_SKIP_WITHOUT_CUDA();
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

}  // namespace
}  // namespace gn

#else  // GN_WITH_CUDA

TEST(GradNormCudaNorms, BuiltWithoutCuda) { GN_SKIP_WITHOUT_CUDA(); }

#endif  // GN_WITH_CUDA
