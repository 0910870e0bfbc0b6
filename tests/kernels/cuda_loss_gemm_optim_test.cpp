// The CUDA kernels (kernels/cuda) against their CPU references (kernels/cpu): random inputs from a fresh
// seed per test, awkward sizes, outputs poisoned with NaN first, every element compared with a tolerance
// atol + rtol * |ref| derived from the dtype (and, for sums, from the problem size). Skips, visibly, when
// no CUDA device answers.
// This file: losses, GEMM and the optimizer updates.
#include <gtest/gtest.h>

#include "core/device.h"
#include "tests/cuda_test_support.h"

#ifdef GN_WITH_CUDA

#include "cuda_kernels_support.h"

namespace gn {
namespace {

template <class T>
class CudaLossGemmOptim : public CudaKernels<T> {};
TYPED_TEST_SUITE(CudaLossGemmOptim, Dtypes);

// ---- losses ---------------------------------------------------------------------------------------

TYPED_TEST(CudaLossGemmOptim, MseAndBackwardMatchCpu) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(110);
  const auto s = cuda::current_stream();
  std::vector<std::int64_t> sizes = kSizes;
  sizes.push_back(0);
  for (std::int64_t n : sizes) {
    const auto pred = normals<T>(gen, n), target = normals<T>(gen, n);
    const double ref = cpu::mse<T>(n, pred.data(), target.data());  // all terms >= 0: sum_abs = sum
    DeviceBuffer<T> dp(pred), dt(target), dout(poisoned<T>(1));
    cuda::mse<T>(n, dp.get(), dt.get(), dout.get(), s);
    EXPECT_NEAR(static_cast<double>(dout.download()[0]), ref, sum_tol<T>(reduce_depth(n) + 4, ref, ref))
        << "mse n=" << n;

    const T g = static_cast<T>(1.3);
    std::vector<T> gref = poisoned<T>(n);
    cpu::mse_backward<T>(n, pred.data(), target.data(), g, gref.data());
    DeviceBuffer<T> dg(std::vector<T>{g}), dgrad(poisoned<T>(n));
    cuda::mse_backward<T>(n, dp.get(), dt.get(), dg.get(), dgrad.get(), s);
    expect_all_near(dgrad.download(), gref, ulp_tol<T>(4), "mse_backward n=" + std::to_string(n));
  }
}

TYPED_TEST(CudaLossGemmOptim, CrossEntropyAndBackwardMatchCpu) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(111);
  const auto s = cuda::current_stream();
  struct Case {
    std::int64_t N, C, S, ignore_index;
    double ignore_fraction;
  };
  const Case cases[] = {
      {1, 1, 1, -100, 0.0},     {31, 10, 1, -100, 0.2}, {4, 3, 33, -100, 0.1},  {2, 33, 32, 2, 0.3},
      {1023, 7, 1, -1, 0.05},   {3, 5, 1025, 255, 0.5}, {33, 2, 31, -100, 1.0},  // all ignored: count 0
      {0, 4, 3, -100, 0.0},                                                      // no positions
      {4097, 13, 1, -100, 0.1},
  };
  for (const auto& c : cases) {
    const std::int64_t positions = c.N * c.S, elems = c.N * c.C * c.S;
    auto logits = normals<T>(gen, elems);
    for (auto& z : logits) z = static_cast<T>(3 * static_cast<double>(z));  // a spread-out softmax
    std::vector<std::int64_t> labels(static_cast<std::size_t>(positions));
    for (auto& l : labels)
      l = gen.uniform() < c.ignore_fraction
              ? c.ignore_index
              : static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(c.C));
    const std::string what = "N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) + " S=" + std::to_string(c.S);

    std::int64_t count_ref = -1;
    const double total = cpu::cross_entropy<T>(c.N, c.C, c.S, logits.data(), labels.data(), c.ignore_index, &count_ref);
    const double mean_ref = count_ref > 0 ? total / static_cast<double>(count_ref) : 0.0;

    DeviceBuffer<T> dz(logits), dout(poisoned<T>(1));
    DeviceBuffer<std::int64_t> dl(labels), dcount(std::vector<std::int64_t>{-7});
    DeviceBuffer<int> dbad(std::vector<int>{0x7f7f7f7f});
    cuda::cross_entropy<T>(c.N, c.C, c.S, dz.get(), dl.get(), c.ignore_index, dout.get(), dcount.get(), dbad.get(), s);
    EXPECT_EQ(dcount.download()[0], count_ref) << what;
    EXPECT_EQ(dbad.download()[0], 0) << what;
    // Each position's loss is formed in double on both sides from terms as large as the largest |logit|
    // (exp and log may differ by an ulp between CUDA and glibc); the mean is rounded to T once.
    double max_abs_logit = 0;
    for (T z : logits) max_abs_logit = std::max(max_abs_logit, std::abs(static_cast<double>(z)));
    EXPECT_NEAR(static_cast<double>(dout.download()[0]), mean_ref,
                8 * kEps<T> * (1 + std::abs(mean_ref) + max_abs_logit))
        << what;

    const T g = static_cast<T>(0.8);
    const T sc = count_ref > 0 ? g / static_cast<T>(count_ref) : T(0);  // as core/dispatch.cpp forms it
    std::vector<T> gref = poisoned<T>(elems);
    cpu::cross_entropy_backward<T>(c.N, c.C, c.S, logits.data(), labels.data(), c.ignore_index, sc, gref.data());
    DeviceBuffer<T> dg(std::vector<T>{g}), dgrad(poisoned<T>(elems));
    cuda::cross_entropy_backward<T>(c.N, c.C, c.S, dz.get(), dl.get(), c.ignore_index, dg.get(), dcount.get(),
                                    dgrad.get(), s);
    const double gscale = std::abs(static_cast<double>(sc));
    expect_all_near(
        dgrad.download(), gref, [&](std::size_t, double r) { return 8 * kEps<T> * (gscale + std::abs(r)); },
        "cross_entropy_backward " + what);
  }
}

TYPED_TEST(CudaLossGemmOptim, CrossEntropyFlagsBadLabels) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(112);
  const auto s = cuda::current_stream();
  const std::int64_t N = 33, C = 5, S = 3;
  const auto logits = normals<T>(gen, N * C * S);
  for (std::int64_t bad : {std::int64_t{5}, std::int64_t{-1}, std::int64_t{1} << 40}) {
    std::vector<std::int64_t> labels(N * S);
    for (auto& l : labels) l = static_cast<std::int64_t>(gen.next_u64() % C);
    labels[47] = bad;
    DeviceBuffer<T> dz(logits), dout(poisoned<T>(1));
    DeviceBuffer<std::int64_t> dl(labels), dcount(std::vector<std::int64_t>{-7});
    DeviceBuffer<int> dbad(std::vector<int>{0});
    cuda::cross_entropy<T>(N, C, S, dz.get(), dl.get(), -100, dout.get(), dcount.get(), dbad.get(), s);
    EXPECT_EQ(dbad.download()[0], 1) << "label " << bad;
    EXPECT_EQ(dcount.download()[0], N * S - 1) << "the bad label is not counted";
  }
}

// ---- GEMM -----------------------------------------------------------------------------------------

struct GemmShape {
  std::int64_t M, N, K;
};
const std::vector<GemmShape> kGemmShapes{{1, 1, 1}, {31, 33, 32}, {33, 31, 1023}, {64, 1, 7},    {1, 65, 33},
                                         {0, 3, 4}, {3, 0, 4},    {5, 6, 0},      {129, 257, 65}};

template <class T>
void check_gemm(Generator& gen, bool ta, bool tb, const GemmShape& g, T alpha, T beta, cuda::Stream s) {
  const auto A = normals<T>(gen, g.M * g.K), B = normals<T>(gen, g.K * g.N);
  const auto C0 = beta == T(0) ? poisoned<T>(g.M * g.N) : normals<T>(gen, g.M * g.N);
  auto ref = C0;
  cpu::gemm<T>(ta, tb, g.M, g.N, g.K, alpha, A.data(), B.data(), beta, ref.data());
  // The same product on |A|, |B|, |C| bounds the magnitudes each rounding acts on.
  const auto absA = abs_of(A), absB = abs_of(B);
  auto bound = beta == T(0) ? std::vector<T>(g.M * g.N, T(0)) : abs_of(C0);
  cpu::gemm<T>(ta, tb, g.M, g.N, g.K, std::abs(alpha), absA.data(), absB.data(), std::abs(beta), bound.data());

  DeviceBuffer<T> dA(A), dB(B), dC(C0);
  cuda::gemm<T>(ta, tb, g.M, g.N, g.K, alpha, dA.get(), dB.get(), beta, dC.get(), s);
  const double depth = static_cast<double>(g.K) + 2.0;
  expect_all_near(
      dC.download(), ref, [&](std::size_t i, double r) { return sum_tol<T>(depth, static_cast<double>(bound[i]), r); },
      "gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " M=" + std::to_string(g.M) +
          " N=" + std::to_string(g.N) + " K=" + std::to_string(g.K) + " beta=" + std::to_string(beta));
}

TYPED_TEST(CudaLossGemmOptim, GemmMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(113);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& g : kGemmShapes)
        for (T beta : {T(0), T(1), T(0.5)}) check_gemm<T>(gen, ta, tb, g, T(1.5), beta, cuda::current_stream());
}

TYPED_TEST(CudaLossGemmOptim, GemmOnAnotherStreamRestoresTheHandle) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(114);
  cudaStream_t other = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking), cudaSuccess);
  const auto A = normals<T>(gen, 33 * 31), B = normals<T>(gen, 31 * 17);
  std::vector<T> ref = poisoned<T>(33 * 17);
  cpu::gemm<T>(false, false, 33, 17, 31, T(1), A.data(), B.data(), T(0), ref.data());
  DeviceBuffer<T> dA(A), dB(B), dC(poisoned<T>(33 * 17));
  cuda::gemm<T>(false, false, 33, 17, 31, T(1), dA.get(), dB.get(), T(0), dC.get(), other);
  ASSERT_EQ(cudaStreamSynchronize(other), cudaSuccess);
  cudaStream_t bound = nullptr;
  ASSERT_EQ(cublasGetStream(cuda::cublas_handle(), &bound), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(bound, cuda::current_stream()) << "the handle must be given back bound to the process stream";
  const auto absA = abs_of(A), absB = abs_of(B);
  std::vector<T> mag(33 * 17, T(0));
  cpu::gemm<T>(false, false, 33, 17, 31, T(1), absA.data(), absB.data(), T(0), mag.data());
  expect_all_near(
      dC.download(), ref, [&](std::size_t i, double r) { return sum_tol<T>(33.0, static_cast<double>(mag[i]), r); },
      "gemm on a second stream");
  cudaStreamDestroy(other);
}

// ---- optimizers -----------------------------------------------------------------------------------

TYPED_TEST(CudaLossGemmOptim, SgdMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(115);
  const auto s = cuda::current_stream();
  const T lr = static_cast<T>(0.05), momentum = static_cast<T>(0.9), wd = static_cast<T>(1e-2);
  for (std::int64_t n : kSizes)
    for (int mode = 0; mode < 3; ++mode) {  // 0: plain, 1: momentum first step, 2: momentum later step
      const auto param = normals<T>(gen, n), grad = normals<T>(gen, n);
      const auto buf = mode == 1 ? poisoned<T>(n) : normals<T>(gen, n);  // first step must not read buf
      auto p_ref = param, b_ref = buf;
      cpu::sgd_step<T>(n, p_ref.data(), grad.data(), mode == 0 ? nullptr : b_ref.data(), lr, momentum, wd, mode == 1);
      DeviceBuffer<T> dp(param), dg(grad), db(buf);
      cuda::sgd_step<T>(n, dp.get(), dg.get(), mode == 0 ? nullptr : db.get(), lr, momentum, wd, mode == 1, s);
      const std::string what = " mode=" + std::to_string(mode) + " n=" + std::to_string(n);
      expect_all_near(dp.download(), p_ref, ulp_tol<T>(16), "sgd param" + what);
      if (mode != 0) expect_all_near(db.download(), b_ref, ulp_tol<T>(16), "sgd buf" + what);
    }
}

TYPED_TEST(CudaLossGemmOptim, AdamMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(116);
  const auto s = cuda::current_stream();
  const T lr = static_cast<T>(1e-3), b1 = static_cast<T>(0.9), b2 = static_cast<T>(0.999);
  const T eps = static_cast<T>(1e-8), wd = static_cast<T>(1e-2);
  for (std::int64_t n : kSizes)
    for (std::int64_t step : {std::int64_t{1}, std::int64_t{7}}) {
      const auto param = normals<T>(gen, n), grad = normals<T>(gen, n);
      // State before the step: zeros before step 1, else an earlier step's moments (v > 0).
      const auto m = step == 1 ? std::vector<T>(n, T(0)) : normals<T>(gen, n);
      auto v = step == 1 ? std::vector<T>(n, T(0)) : positives<T>(gen, n);
      auto p_ref = param, m_ref = m, v_ref = v;
      cpu::adam_step<T>(n, p_ref.data(), grad.data(), m_ref.data(), v_ref.data(), lr, b1, b2, eps, wd, step);
      DeviceBuffer<T> dp(param), dg(grad), dm(m), dv(v);
      cuda::adam_step<T>(n, dp.get(), dg.get(), dm.get(), dv.get(), lr, b1, b2, eps, wd, step, s);
      const std::string what = " step=" + std::to_string(step) + " n=" + std::to_string(n);
      expect_all_near(dm.download(), m_ref, ulp_tol<T>(8), "adam m" + what);
      expect_all_near(dv.download(), v_ref, ulp_tol<T>(8), "adam v" + what);
      expect_all_near(dp.download(), p_ref, ulp_tol<T>(16), "adam param" + what);
    }
  DeviceBuffer<T> one(1);
  EXPECT_THROW(cuda::adam_step<T>(1, one.get(), one.get(), one.get(), one.get(), lr, b1, b2, eps, wd, 0, s), Error);
}

}  // namespace
}  // namespace gn

#else  // !GN_WITH_CUDA

TEST(CudaLossGemmOptim, Skipped) { GN_SKIP_WITHOUT_CUDA(); }

#endif  // GN_WITH_CUDA
