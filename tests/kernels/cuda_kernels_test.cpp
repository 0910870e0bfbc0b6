// The CUDA kernels (kernels/cuda) against their CPU references (kernels/cpu): random inputs from a fresh
// seed per test, awkward sizes, outputs poisoned with NaN first, every element compared with a tolerance
// atol + rtol * |ref| derived from the dtype (and, for sums, from the problem size). Skips, visibly, when
// no CUDA device answers.
#include <gtest/gtest.h>

#include "core/device.h"

#ifdef GN_WITH_CUDA

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "core/rng.h"
#include "kernels/cpu/copy.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream.h"
#include "kernels/error.h"

namespace gn {
namespace {

const std::vector<std::int64_t> kSizes{1, 31, 32, 33, 1023, (1 << 20) + 7};

template <class T>
constexpr double kEps = std::numeric_limits<T>::epsilon();

template <class T>
T poison() {
  return std::numeric_limits<T>::quiet_NaN();
}

// ---- host data ------------------------------------------------------------------------------------

template <class T>
std::vector<T> normals(Generator& gen, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(gen.normal());
  return v;
}
// Bounded away from zero and positive: inputs for log, sqrt, pow, and divisors.
template <class T>
std::vector<T> positives(Generator& gen, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(0.25 + std::abs(gen.normal()));
  return v;
}
template <class T>
std::vector<T> abs_of(const std::vector<T>& v) {
  std::vector<T> a(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::abs(v[i]);
  return a;
}

// ---- device buffers -------------------------------------------------------------------------------

// n elements of T in device memory (at least one is allocated, so n = 0 still gives a valid pointer).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n), p_(cuda::device_malloc(std::max<std::size_t>(n, 1) * sizeof(T))) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cuda::device_free(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return static_cast<T*>(p_); }
  void upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), n_);
    if (n_ > 0) cuda::memcpy_host_to_device(p_, host.data(), n_ * sizeof(T));
  }
  // Waits for the stream (memcpy_device_to_host synchronises), so kernel results are complete.
  std::vector<T> download() const {
    std::vector<T> host(n_);
    if (n_ > 0) cuda::memcpy_device_to_host(host.data(), p_, n_ * sizeof(T));
    return host;
  }

 private:
  std::size_t n_;
  void* p_;
};

// A device buffer of n elements filled with NaN, for outputs.
template <class T>
std::vector<T> poisoned(std::size_t n) {
  return std::vector<T>(n, poison<T>());
}

// ---- comparisons ----------------------------------------------------------------------------------

// Every got[i] within tol(i, ref[i]) of ref[i] (NaN never is); reports the count and the first offender.
template <class G, class R, class Tol>
void expect_all_near(const std::vector<G>& got, const std::vector<R>& ref, Tol tol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), r = static_cast<double>(ref[i]);
    if (!(std::abs(g - r) <= tol(i, r))) {
      if (bad == 0) first = i;
      ++bad;
    }
  }
  if (bad > 0)
    ADD_FAILURE() << what << ": " << bad << " of " << got.size() << " elements differ; first at " << first << ": got "
                  << static_cast<double>(got[first]) << ", want " << static_cast<double>(ref[first]) << " (tol "
                  << tol(first, static_cast<double>(ref[first])) << ")";
}

// atol + rtol * |ref| with atol = rtol = ulps * eps(T): for results a few roundings away from the reference.
template <class T>
auto ulp_tol(double ulps) {
  return [ulps](std::size_t, double ref) { return ulps * kEps<T> * (1.0 + std::abs(ref)); };
}

template <class T>
void expect_bits_equal(const std::vector<T>& got, const std::vector<T>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  EXPECT_EQ(std::memcmp(got.data(), ref.data(), got.size() * sizeof(T)), 0) << what << ": bytes differ";
}

// A bound on the rounding error of a float sum of terms with |terms| summing to sum_abs, by a method whose
// longest chain of additions has `depth` steps (each kernel's depth is at most the bound passed in).
template <class T>
double sum_tol(double depth, double sum_abs, double ref) {
  return 2.0 * depth * kEps<T> * sum_abs + 4.0 * kEps<T> * std::abs(ref) + std::numeric_limits<T>::min();
}
// The deterministic sum (kernels/cuda/launch.cuh): per-thread chain + 8-level block tree + final pass
// (up to 4 slots per thread + 8 levels). 2 log2 n + 32 covers every n.
double reduce_depth(std::int64_t n) { return 2.0 * std::log2(static_cast<double>(n) + 1.0) + 32.0; }

template <class T>
class CudaKernels : public ::testing::Test {};
using Dtypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaKernels, Dtypes);

// ---- elementwise ----------------------------------------------------------------------------------

// One broadcasting case: a, b given as storage plus strides per output axis.
struct BinaryCase {
  std::vector<std::int64_t> shape, a_strides, b_strides;
  std::int64_t a_size, b_size;  // elements of storage each operand needs
  std::string name;
};

std::vector<BinaryCase> binary_cases() {
  std::vector<BinaryCase> cases;
  for (std::int64_t n : kSizes) cases.push_back({{n}, {1}, {1}, n, n, "contiguous n=" + std::to_string(n)});
  cases.push_back({{0}, {1}, {1}, 0, 0, "empty"});
  cases.push_back({{31, 33}, {33, 1}, {0, 1}, 31 * 33, 33, "row broadcast (31,33)+(1,33)"});
  cases.push_back({{33, 31}, {1, 0}, {0, 1}, 33, 31, "outer (33,1)x(1,31)"});
  cases.push_back({{1023, 33}, {33, 1}, {0, 0}, 1023 * 33, 1, "scalar b"});
  cases.push_back({{31, 33}, {1, 31}, {33, 1}, 33 * 31, 31 * 33, "transposed a"});
  cases.push_back({{2, 3, 5}, {15, 5, 1}, {0, 1, 0}, 30, 3, "3-d, b (1,3,1)"});
  cases.push_back({{1025, 1023}, {1023, 1}, {0, 1}, 1025 * 1023, 1023, "large row broadcast"});
  cases.push_back({{}, {}, {}, 1, 1, "0-d scalars"});
  cases.push_back({{2, 1, 3, 1, 2, 1, 2, 3}, {36, 0, 12, 0, 6, 0, 3, 1}, {0, 0, 1, 0, 0, 0, 0, 3}, 72, 9, "8-d"});
  return cases;
}

TYPED_TEST(CudaKernels, BinaryMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(101);
  const auto s = cuda::current_stream();
  for (const auto& c : binary_cases()) {
    std::int64_t n = 1;
    for (auto d : c.shape) n *= d;
    const auto a = normals<T>(gen, c.a_size);
    const auto b = positives<T>(gen, c.b_size);  // divisors away from zero
    DeviceBuffer<T> da(a), db(b);
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      std::vector<T> ref = poisoned<T>(n);
      cpu::binary<T>(op, a.data(), c.a_strides, b.data(), c.b_strides, ref.data(), c.shape);
      DeviceBuffer<T> dout(poisoned<T>(n));
      cuda::binary<T>(op, da.get(), c.a_strides, db.get(), c.b_strides, dout.get(), c.shape, s);
      expect_all_near(dout.download(), ref, ulp_tol<T>(1), c.name + " op " + std::to_string(static_cast<int>(op)));
    }
  }
}

TYPED_TEST(CudaKernels, BinaryRejectsTooManyAxes) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  const std::vector<std::int64_t> shape(9, 1), strides(9, 0);
  DeviceBuffer<T> buf(1);
  EXPECT_THROW(
      cuda::binary<T>(BinaryOp::Add, buf.get(), strides, buf.get(), strides, buf.get(), shape, cuda::current_stream()),
      Error);
}

TYPED_TEST(CudaKernels, AxpyScaleFillMatchCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(102);
  const auto s = cuda::current_stream();
  for (std::int64_t n : kSizes) {
    const auto a = normals<T>(gen, n), b = normals<T>(gen, n);
    const T alpha = static_cast<T>(-0.75), factor = static_cast<T>(1.5);
    const std::string at = " n=" + std::to_string(n);

    auto ref = a;
    cpu::axpy<T>(n, alpha, b.data(), ref.data());
    DeviceBuffer<T> da(a), db(b);
    cuda::axpy<T>(n, alpha, db.get(), da.get(), s);
    expect_all_near(da.download(), ref, ulp_tol<T>(4), "axpy" + at);  // FMA contraction may differ

    ref = a;
    cpu::scale<T>(n, factor, ref.data());
    da.upload(a);
    cuda::scale<T>(n, factor, da.get(), s);
    expect_all_near(da.download(), ref, ulp_tol<T>(1), "scale" + at);

    DeviceBuffer<T> df(poisoned<T>(n));
    cuda::fill<T>(n, static_cast<T>(3.25), df.get(), s);
    expect_bits_equal(df.download(), std::vector<T>(n, static_cast<T>(3.25)), "fill" + at);
  }
  // n = 0 launches nothing and leaves the buffer alone.
  DeviceBuffer<T> one(poisoned<T>(1));
  cuda::fill<T>(0, T(1), one.get(), s);
  cuda::scale<T>(0, T(2), one.get(), s);
  cuda::axpy<T>(0, T(2), one.get(), one.get(), s);
  EXPECT_TRUE(std::isnan(one.download()[0]));
}

TYPED_TEST(CudaKernels, UnaryAndBackwardMatchCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(103);
  const auto s = cuda::current_stream();
  const UnaryOp ops[] = {UnaryOp::Neg,  UnaryOp::Exp,  UnaryOp::Log,     UnaryOp::Sqrt, UnaryOp::Abs,
                         UnaryOp::Relu, UnaryOp::Tanh, UnaryOp::Sigmoid, UnaryOp::Pow};
  for (std::int64_t n : kSizes)
    for (UnaryOp op : ops) {
      const bool positive_domain = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Pow;
      const auto x = positive_domain ? positives<T>(gen, n) : normals<T>(gen, n);
      const auto gy = normals<T>(gen, n);
      const T p = static_cast<T>(1.7);
      const std::string what = "op " + std::to_string(static_cast<int>(op)) + " n=" + std::to_string(n);

      std::vector<T> y_ref = poisoned<T>(n), gx_ref = poisoned<T>(n);
      cpu::unary<T>(op, n, x.data(), y_ref.data(), p);
      cpu::unary_backward<T>(op, n, x.data(), y_ref.data(), gy.data(), gx_ref.data(), p);

      DeviceBuffer<T> dx(x), dgy(gy), dy(poisoned<T>(n)), dgx(poisoned<T>(n));
      cuda::unary<T>(op, n, dx.get(), dy.get(), p, s);
      // Transcendentals: CUDA's and glibc's are each within a few ulp of the exact value.
      expect_all_near(dy.download(), y_ref, ulp_tol<T>(8), "unary " + what);
      dy.upload(y_ref);  // backward from the same y on both sides
      cuda::unary_backward<T>(op, n, dx.get(), dy.get(), dgy.get(), dgx.get(), p, s);
      expect_all_near(dgx.download(), gx_ref, ulp_tol<T>(16), "unary_backward " + what);
    }
}

// ---- reductions -----------------------------------------------------------------------------------

TYPED_TEST(CudaKernels, SumAllMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(104);
  const auto s = cuda::current_stream();
  std::vector<std::int64_t> sizes = kSizes;
  sizes.push_back(0);
  sizes.push_back(5'000'011);  // more than 1024 blocks' worth: threads add several grid strides
  for (std::int64_t n : sizes) {
    const auto x = normals<T>(gen, n);
    const T scale = static_cast<T>(0.5);
    const double ref = 0.5 * cpu::sum_all<T>(n, x.data());
    const auto ax = abs_of(x);
    const double sum_abs = 0.5 * cpu::sum_all<T>(n, ax.data());
    DeviceBuffer<T> dx(x), dout(poisoned<T>(1));
    cuda::sum_all<T>(n, dx.get(), scale, dout.get(), s);
    const T got = dout.download()[0];
    EXPECT_NEAR(static_cast<double>(got), ref, sum_tol<T>(reduce_depth(n), sum_abs, ref)) << "n=" << n;
  }
}

TYPED_TEST(CudaKernels, SumAllIsDeterministic) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(105);
  const auto s = cuda::current_stream();
  for (std::int64_t n : {std::int64_t{1023}, std::int64_t{(1 << 20) + 7}, std::int64_t{5'000'011}}) {
    const auto x = normals<T>(gen, n);
    DeviceBuffer<T> dx(x), out1(poisoned<T>(1)), out2(poisoned<T>(1));
    cuda::sum_all<T>(n, dx.get(), T(1), out1.get(), s);
    cuda::sum_all<T>(n, dx.get(), T(1), out2.get(), s);
    expect_bits_equal(out1.download(), out2.download(), "sum_all twice, n=" + std::to_string(n));
  }
}

struct AxisCase {
  std::int64_t outer, n, inner;
};
const std::vector<AxisCase> kAxisCases{{1, 1, 1},     {3, 31, 1},  {1, 1023, 33},         {7, 33, 32},
                                       {2, 0, 5},     {33, 1, 31}, {1, (1 << 20) + 7, 1}, {1024, 1023, 1},
                                       {2, 517, 1023}};

TYPED_TEST(CudaKernels, SumAxisMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(106);
  const auto s = cuda::current_stream();
  for (const auto& c : kAxisCases) {
    const std::int64_t out_n = c.outer * c.inner;
    const auto x = normals<T>(gen, c.outer * c.n * c.inner);
    const T scale = static_cast<T>(-2.0);
    std::vector<T> ref = poisoned<T>(out_n), ref_abs = poisoned<T>(out_n);
    cpu::sum_axis<T>(c.outer, c.n, c.inner, x.data(), ref.data());
    const auto ax = abs_of(x);
    cpu::sum_axis<T>(c.outer, c.n, c.inner, ax.data(), ref_abs.data());
    for (auto& v : ref) v = static_cast<T>(static_cast<double>(v) * -2.0);
    DeviceBuffer<T> dx(x), dout(poisoned<T>(out_n));
    cuda::sum_axis<T>(c.outer, c.n, c.inner, dx.get(), scale, dout.get(), s);
    // One thread adds the n terms in order: a chain of n additions, then the scale.
    const double depth = static_cast<double>(c.n) + 2.0;
    expect_all_near(
        dout.download(), ref,
        [&](std::size_t i, double r) { return sum_tol<T>(depth, 2.0 * static_cast<double>(ref_abs[i]), r); },
        "sum_axis (" + std::to_string(c.outer) + "," + std::to_string(c.n) + "," + std::to_string(c.inner) + ")");
  }
}

TYPED_TEST(CudaKernels, BroadcastAxisMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(107);
  const auto s = cuda::current_stream();
  for (const auto& c : kAxisCases) {
    const std::int64_t out_n = c.outer * c.n * c.inner;
    const auto x = normals<T>(gen, c.outer * c.inner);
    const T scale = static_cast<T>(0.3);
    std::vector<T> ref = poisoned<T>(out_n);
    cpu::broadcast_axis<T>(c.outer, c.n, c.inner, x.data(), scale, ref.data());
    DeviceBuffer<T> dx(x), dout(poisoned<T>(out_n));
    cuda::broadcast_axis<T>(c.outer, c.n, c.inner, dx.get(), scale, dout.get(), s);
    expect_all_near(
        dout.download(), ref, ulp_tol<T>(1),
        "broadcast_axis (" + std::to_string(c.outer) + "," + std::to_string(c.n) + "," + std::to_string(c.inner) + ")");
  }
}

// ---- copies ---------------------------------------------------------------------------------------

std::vector<unsigned char> random_bytes(Generator& gen, std::size_t n) {
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(gen.next_u64() >> 56);
  return v;
}

TEST(CudaCopy, CopyRowsMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  Generator gen(108);
  const auto s = cuda::current_stream();
  struct Case {
    std::int64_t rows, width, src_row, dst_row;
  };
  const Case cases[] = {
      {33, 31, 31, 31},  // one block: a single linear copy
      {33, 31, 40, 50},  // pitched on both sides: 2-D copy
      {32, 32, 32, 64},  // into every other row
      {1, 1023, 0, 0},   // one row
      {31, 33, 0, 33},   // repeat one row (src pitch 0 < width): kernel
      {1023, 7, 3, 7},   // overlapping source rows (src pitch < width): kernel
      {0, 5, 5, 5},      // empty
      {4, 0, 5, 5},      // empty rows
      {(1 << 10) + 7, 1024, 1031, 1024},
  };
  for (std::size_t elem : {std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{8}})
    for (const auto& c : cases) {
      const auto span_of = [](std::int64_t rows, std::int64_t width, std::int64_t row) {
        return rows == 0 ? std::int64_t{0} : (rows - 1) * row + width;
      };
      const std::size_t src_bytes = static_cast<std::size_t>(span_of(c.rows, c.width, c.src_row)) * elem;
      const std::size_t dst_bytes = static_cast<std::size_t>(span_of(c.rows, c.width, c.dst_row)) * elem;
      const auto src = random_bytes(gen, src_bytes);
      std::vector<unsigned char> ref(dst_bytes, 0xFF);  // poison: all-ones bytes are NaN in float and double
      cpu::copy_rows(c.rows, c.width, elem, src.data(), c.src_row, ref.data(), c.dst_row);
      DeviceBuffer<unsigned char> dsrc(src), ddst(std::vector<unsigned char>(dst_bytes, 0xFF));
      cuda::copy_rows(c.rows, c.width, elem, dsrc.get(), c.src_row, ddst.get(), c.dst_row, s);
      expect_bits_equal(ddst.download(), ref,
                        "copy_rows rows=" + std::to_string(c.rows) + " width=" + std::to_string(c.width) +
                            " src_row=" + std::to_string(c.src_row) + " dst_row=" + std::to_string(c.dst_row) +
                            " elem=" + std::to_string(elem));
    }
}

TEST(CudaCopy, StridedCopyMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  Generator gen(109);
  const auto s = cuda::current_stream();
  struct Case {
    std::vector<std::int64_t> shape, strides;
    std::int64_t in_size;
    std::string name;
  };
  const std::vector<Case> cases{
      {{31, 33}, {1, 31}, 31 * 33, "transpose"},
      {{4, 2, 3}, {1, 12, 4}, 24, "3-d permutation"},
      {{33, 32}, {0, 1}, 32, "broadcast rows"},
      {{1023}, {1}, 1023, "contiguous (memcpy)"},
      {{(1 << 20) + 7}, {1}, (1 << 20) + 7, "large contiguous"},
      {{1025, 1023}, {1, 1025}, 1025 * 1023, "large transpose"},
      {{5, 1, 7}, {7, 99, 1}, 35, "size-1 axis with any stride (memcpy)"},
      {{}, {}, 1, "0-d"},
      {{3, 0, 2}, {0, 2, 1}, 1, "empty"},
      {{2, 2, 2, 2, 2, 2, 2, 2}, {1, 2, 4, 8, 16, 32, 64, 128}, 256, "8-d reversed"},
  };
  for (std::size_t elem : {std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{8}})
    for (const auto& c : cases) {
      std::int64_t n = 1;
      for (auto d : c.shape) n *= d;
      const auto in = random_bytes(gen, static_cast<std::size_t>(c.in_size) * elem);
      std::vector<unsigned char> ref(static_cast<std::size_t>(n) * elem, 0xFF);
      cpu::strided_copy(elem, in.data(), c.strides, ref.data(), c.shape);
      DeviceBuffer<unsigned char> din(in), dout(std::vector<unsigned char>(ref.size(), 0xFF));
      cuda::strided_copy(elem, din.get(), c.strides, dout.get(), c.shape, s);
      expect_bits_equal(dout.download(), ref, "strided_copy " + c.name + " elem=" + std::to_string(elem));
    }
  DeviceBuffer<unsigned char> buf(64);
  const std::vector<std::int64_t> shape{2, 2}, strides{1, 2};
  EXPECT_THROW(cuda::strided_copy(3, buf.get(), strides, buf.get(), shape, s), Error);
  const std::vector<std::int64_t> shape9(9, 1), strides9(9, 1);
  EXPECT_THROW(cuda::strided_copy(4, buf.get(), strides9, buf.get(), shape9, s), Error);
}

// ---- losses ---------------------------------------------------------------------------------------

TYPED_TEST(CudaKernels, MseAndBackwardMatchCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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

TYPED_TEST(CudaKernels, CrossEntropyAndBackwardMatchCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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

TYPED_TEST(CudaKernels, CrossEntropyFlagsBadLabels) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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

TYPED_TEST(CudaKernels, GemmMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
  using T = TypeParam;
  Generator gen(113);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& g : kGemmShapes)
        for (T beta : {T(0), T(1), T(0.5)}) check_gemm<T>(gen, ta, tb, g, T(1.5), beta, cuda::current_stream());
}

TYPED_TEST(CudaKernels, GemmOnAnotherStreamRestoresTheHandle) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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

TYPED_TEST(CudaKernels, SgdMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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

TYPED_TEST(CudaKernels, AdamMatchesCpu) {
  if (!gn::cuda_available()) GTEST_SKIP() << gn::cuda_unavailable_reason();
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

TEST(CudaKernels, Skipped) { GTEST_SKIP() << "built without CUDA"; }

#endif  // GN_WITH_CUDA
