// The CUDA pooling, unpooling, upsampling and batch-norm kernels (kernels/cuda/pool.h) against their CPU
// references (kernels/cpu/pool.h), float and double: outputs poisoned with NaN first (so an element a kernel
// fails to write is caught), indices compared exactly, sums with a tolerance from the dtype and the sum's
// length, and every CUDA result bit-identical on a second run. Skips, visibly, without a CUDA device.
#include <gtest/gtest.h>

#include "core/device.h"
#include "tests/cuda_test_support.h"

#ifdef GN_WITH_CUDA

#include <fmt/format.h>

#include "cuda_kernels_support.h"
#include "kernels/cpu/pool.h"
#include "kernels/cuda/pool.h"

namespace gn {
namespace {

template <class T>
class CudaPool : public CudaKernels<T> {};
TYPED_TEST_SUITE(CudaPool, Dtypes);

// Distinct values (a shuffled ramp): no ties in any max-pool window in either dtype.
template <class T>
std::vector<T> shuffled_ramp(Generator& gen, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(0.01 * static_cast<double>(i - n / 2));
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(v[i], v[std::min(i, static_cast<std::int64_t>(gen.uniform() * static_cast<double>(i + 1)))]);
  return v;
}

// A sum of up to `terms` values of size ~1 per output element.
template <class T>
auto sum_len_tol(double terms) {
  return [terms](std::size_t, double ref) { return 4.0 * terms * kEps<T> * (1.0 + std::abs(ref)); };
}

TYPED_TEST(CudaPool, MaxPoolForwardAndBackward) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(201);
  const auto s = cuda::current_stream();
  struct Case {
    std::int64_t planes, H, W, kh, kw, sh, sw, ph, pw;
  };
  for (const auto& c : std::vector<Case>{{1, 5, 7, 3, 3, 2, 2, 1, 1},
                                         {6, 6, 5, 2, 2, 2, 2, 0, 0},
                                         {12, 33, 31, 3, 3, 2, 2, 1, 1},
                                         {3, 9, 8, 3, 2, 1, 2, 1, 0},
                                         {2, 17, 19, 3, 3, 1, 1, 1, 1}}) {
    Pool2dGeometry g;
    g.planes = c.planes, g.H = c.H, g.W = c.W, g.kh = c.kh, g.kw = c.kw, g.sh = c.sh, g.sw = c.sw, g.ph = c.ph,
    g.pw = c.pw;
    g.OH = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
    g.OW = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
    const std::int64_t nin = g.planes * g.H * g.W, nout = g.planes * g.OH * g.OW;
    const std::string what = fmt::format("max_pool2d {}x{}", g.H, g.W);
    const auto x = shuffled_ramp<T>(gen, nin);
    const auto gy = normals<T>(gen, nout);
    std::vector<T> y_ref(nout), gx_ref(nin);
    std::vector<std::int64_t> idx_ref(nout);
    cpu::max_pool2d<T>(g, x.data(), y_ref.data(), idx_ref.data());
    cpu::max_pool2d_backward<T>(g, gy.data(), idx_ref.data(), gx_ref.data());

    DeviceBuffer<T> dx(x), dy(poisoned<T>(nout)), dgy(gy), dgx(poisoned<T>(nin));
    DeviceBuffer<std::int64_t> didx(std::vector<std::int64_t>(nout, -7));
    cuda::max_pool2d<T>(g, dx.get(), dy.get(), didx.get(), s);
    expect_bits_equal(dy.download(), y_ref, what + " values");
    EXPECT_EQ(didx.download(), idx_ref) << what << " indices";
    cuda::max_pool2d_backward<T>(g, dgy.get(), didx.get(), dgx.get(), s);
    const auto gx1 = dgx.download();
    expect_all_near(gx1, gx_ref, sum_len_tol<T>(static_cast<double>(g.kh * g.kw)), what + " backward");
    dgx.upload(poisoned<T>(nin));
    cuda::max_pool2d_backward<T>(g, dgy.get(), didx.get(), dgx.get(), s);
    expect_bits_equal(dgx.download(), gx1, what + " backward rerun");
  }
}

TYPED_TEST(CudaPool, MaxUnpoolForwardAndBackward) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(202);
  const auto s = cuda::current_stream();
  for (const auto& [H, W] : std::vector<std::pair<std::int64_t, std::int64_t>>{{5, 7}, {32, 33}}) {
    Pool2dGeometry g;
    g.planes = 5, g.H = H, g.W = W, g.kh = g.kw = g.sh = g.sw = 2;
    g.OH = H / 2, g.OW = W / 2;
    const std::int64_t nin = g.planes * H * W, np = g.planes * g.OH * g.OW;
    std::vector<T> pooled(np);
    std::vector<std::int64_t> idx(np);
    cpu::max_pool2d<T>(g, shuffled_ramp<T>(gen, nin).data(), pooled.data(), idx.data());
    const auto v = normals<T>(gen, np), gy = normals<T>(gen, nin);
    std::vector<T> y_ref(nin), gx_ref(np);
    cpu::max_unpool2d<T>(g.planes, g.OH, g.OW, H, W, v.data(), idx.data(), y_ref.data());
    cpu::max_unpool2d_backward<T>(g.planes, g.OH, g.OW, H, W, gy.data(), idx.data(), gx_ref.data());
    DeviceBuffer<T> dv(v), dy(poisoned<T>(nin)), dgy(gy), dgx(poisoned<T>(np));
    DeviceBuffer<std::int64_t> didx(idx);
    cuda::max_unpool2d<T>(g.planes, g.OH, g.OW, H, W, dv.get(), didx.get(), dy.get(), s);
    expect_bits_equal(dy.download(), y_ref, "max_unpool2d");
    cuda::max_unpool2d_backward<T>(g.planes, g.OH, g.OW, H, W, dgy.get(), didx.get(), dgx.get(), s);
    expect_bits_equal(dgx.download(), gx_ref, "max_unpool2d backward");
  }
}

TYPED_TEST(CudaPool, UpsampleForwardAndBackward) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(203);
  const auto s = cuda::current_stream();
  struct Case {
    std::int64_t planes, H, W, OH, OW;
  };
  for (const auto& c : std::vector<Case>{{2, 3, 5, 7, 4},
                                         {3, 2, 2, 3, 5},
                                         {1, 5, 7, 3, 4},
                                         {6, 17, 15, 64, 61},
                                         {2, 1, 1, 3, 2},
                                         {4, 8, 8, 16, 16}}) {
    const std::int64_t nin = c.planes * c.H * c.W, nout = c.planes * c.OH * c.OW;
    const std::string at = fmt::format(" {}x{}->{}x{}", c.H, c.W, c.OH, c.OW);
    const auto x = normals<T>(gen, nin), gy = normals<T>(gen, nout);
    // The most outputs that reach one input along both axes.
    const double fan = std::ceil(static_cast<double>(c.OH) / static_cast<double>(c.H) + 2) *
                       std::ceil(static_cast<double>(c.OW) / static_cast<double>(c.W) + 2);
    DeviceBuffer<T> dx(x), dgy(gy), dy(poisoned<T>(nout)), dgx(poisoned<T>(nin));

    std::vector<T> y_ref(nout), gx_ref(nin);
    cpu::upsample_nearest2d<T>(c.planes, c.H, c.W, c.OH, c.OW, x.data(), y_ref.data());
    cpu::upsample_nearest2d_backward<T>(c.planes, c.H, c.W, c.OH, c.OW, gy.data(), gx_ref.data());
    cuda::upsample_nearest2d<T>(c.planes, c.H, c.W, c.OH, c.OW, dx.get(), dy.get(), s);
    expect_bits_equal(dy.download(), y_ref, "nearest" + at);
    cuda::upsample_nearest2d_backward<T>(c.planes, c.H, c.W, c.OH, c.OW, dgy.get(), dgx.get(), s);
    expect_all_near(dgx.download(), gx_ref, sum_len_tol<T>(fan), "nearest backward" + at);

    for (bool ac : {true, false}) {
      const std::string what = std::string(ac ? "bilinear align_corners" : "bilinear") + at;
      cpu::upsample_bilinear2d<T>(c.planes, c.H, c.W, c.OH, c.OW, ac, x.data(), y_ref.data());
      cpu::upsample_bilinear2d_backward<T>(c.planes, c.H, c.W, c.OH, c.OW, ac, gy.data(), gx_ref.data());
      dy.upload(poisoned<T>(nout));
      cuda::upsample_bilinear2d<T>(c.planes, c.H, c.W, c.OH, c.OW, ac, dx.get(), dy.get(), s);
      expect_all_near(dy.download(), y_ref, ulp_tol<T>(16), what);
      dgx.upload(poisoned<T>(nin));
      cuda::upsample_bilinear2d_backward<T>(c.planes, c.H, c.W, c.OH, c.OW, ac, dgy.get(), dgx.get(), s);
      const auto gx1 = dgx.download();
      expect_all_near(gx1, gx_ref, sum_len_tol<T>(4 * fan), what + " backward");
      cuda::upsample_bilinear2d_backward<T>(c.planes, c.H, c.W, c.OH, c.OW, ac, dgy.get(), dgx.get(), s);
      expect_bits_equal(dgx.download(), gx1, what + " backward rerun");
    }
  }
}

TYPED_TEST(CudaPool, BatchNormTrainEvalAndBackward) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  Generator gen(204);
  const auto s = cuda::current_stream();
  struct Case {
    std::int64_t N, C, HW;
  };
  // Several reduction chunks per channel in the last two (M = N * HW > 4096).
  for (const auto& c : std::vector<Case>{{3, 2, 15}, {1, 3, 15}, {5, 4, 1}, {8, 3, 33 * 35}, {2, 5, 70001}}) {
    const std::int64_t n = c.N * c.C * c.HW;
    const std::string at = fmt::format(" N={} C={} HW={}", c.N, c.C, c.HW);
    auto x = normals<T>(gen, n);
    for (auto& v : x) v = static_cast<T>(3 + 2 * static_cast<double>(v));  // mean 3: the two-pass variance matters
    const auto gy = normals<T>(gen, n), w = positives<T>(gen, c.C), b = normals<T>(gen, c.C);
    const auto rm0 = normals<T>(gen, c.C), rv0 = positives<T>(gen, c.C);
    const auto tol = sum_len_tol<T>(std::sqrt(static_cast<double>(c.N * c.HW)) + 16);
    for (bool training : {true, false}) {
      const std::string what = std::string(training ? "train" : "eval") + at;
      std::vector<T> y_ref(n), sm_ref(c.C), si_ref(c.C), rm_ref = rm0, rv_ref = rv0;
      std::vector<T> gx_ref(n), gw_ref(c.C), gb_ref(c.C);
      if (training)
        cpu::batch_norm_forward_train<T>(c.N, c.C, c.HW, x.data(), w.data(), b.data(), 1e-5, 0.1, rm_ref.data(),
                                         rv_ref.data(), y_ref.data(), sm_ref.data(), si_ref.data());
      else
        cpu::batch_norm_forward_eval<T>(c.N, c.C, c.HW, x.data(), w.data(), b.data(), rm0.data(), rv0.data(), 1e-5,
                                        y_ref.data(), sm_ref.data(), si_ref.data());
      cpu::batch_norm_backward<T>(c.N, c.C, c.HW, x.data(), gy.data(), w.data(), sm_ref.data(), si_ref.data(), training,
                                  gx_ref.data(), gw_ref.data(), gb_ref.data());

      DeviceBuffer<T> dx(x), dw(w), db(b), drm(rm0), drv(rv0), dy(poisoned<T>(n)), dsm(poisoned<T>(c.C)),
          dsi(poisoned<T>(c.C)), dgy(gy), dgx(poisoned<T>(n)), dgw(poisoned<T>(c.C)), dgb(poisoned<T>(c.C));
      if (training)
        cuda::batch_norm_forward_train<T>(c.N, c.C, c.HW, dx.get(), dw.get(), db.get(), 1e-5, 0.1, drm.get(), drv.get(),
                                          dy.get(), dsm.get(), dsi.get(), s);
      else
        cuda::batch_norm_forward_eval<T>(c.N, c.C, c.HW, dx.get(), dw.get(), db.get(), drm.get(), drv.get(), 1e-5,
                                         dy.get(), dsm.get(), dsi.get(), s);
      expect_all_near(dsm.download(), sm_ref, tol, what + " mean");
      expect_all_near(dsi.download(), si_ref, tol, what + " invstd");
      expect_all_near(drm.download(), rm_ref, tol, what + " running_mean");
      expect_all_near(drv.download(), rv_ref, tol, what + " running_var");
      const auto y1 = dy.download();
      expect_all_near(y1, y_ref, tol, what + " y");
      // Backward from the CPU's saved statistics, so only the backward's own rounding differs.
      dsm.upload(sm_ref);
      dsi.upload(si_ref);
      cuda::batch_norm_backward<T>(c.N, c.C, c.HW, dx.get(), dgy.get(), dw.get(), dsm.get(), dsi.get(), training,
                                   dgx.get(), dgw.get(), dgb.get(), s);
      const auto gx1 = dgx.download();
      expect_all_near(gx1, gx_ref, tol, what + " gx");
      expect_all_near(dgw.download(), gw_ref, sum_len_tol<T>(static_cast<double>(c.N * c.HW)), what + " grad_weight");
      expect_all_near(dgb.download(), gb_ref, sum_len_tol<T>(static_cast<double>(c.N * c.HW)), what + " grad_bias");
      // Deterministic: the same bits again; null outputs are skipped.
      if (training) {
        DeviceBuffer<T> dy2(poisoned<T>(n));
        cuda::batch_norm_forward_train<T>(c.N, c.C, c.HW, dx.get(), nullptr, nullptr, 1e-5, 0.1, nullptr, nullptr,
                                          dy2.get(), dsm.get(), dsi.get(), s);
        std::vector<T> y_plain(n), sm(c.C), si(c.C);
        cpu::batch_norm_forward_train<T>(c.N, c.C, c.HW, x.data(), nullptr, nullptr, 1e-5, 0.1, nullptr, nullptr,
                                         y_plain.data(), sm.data(), si.data());
        expect_all_near(dy2.download(), y_plain, tol, what + " without affine");
        dsm.upload(sm_ref);
        dsi.upload(si_ref);
      }
      cuda::batch_norm_backward<T>(c.N, c.C, c.HW, dx.get(), dgy.get(), dw.get(), dsm.get(), dsi.get(), training,
                                   dgx.get(), nullptr, nullptr, s);
      expect_bits_equal(dgx.download(), gx1, what + " gx rerun");
    }
  }
}

}  // namespace
}  // namespace gn

#else  // !GN_WITH_CUDA

TEST(CudaPool, Skipped) { GN_SKIP_WITHOUT_CUDA(); }

#endif  // GN_WITH_CUDA
