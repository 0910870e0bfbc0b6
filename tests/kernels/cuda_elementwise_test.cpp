// The CUDA kernels (kernels/cuda) against their CPU references (kernels/cpu): random inputs from a fresh
// seed per test, awkward sizes, outputs poisoned with NaN first, every element compared with a tolerance
// atol + rtol * |ref| derived from the dtype (and, for sums, from the problem size). Skips, visibly, when
// no CUDA device answers.
// This file: elementwise, reductions and copies.
#include <gtest/gtest.h>

#include "core/device.h"
#include "tests/cuda_test_support.h"

#ifdef GN_WITH_CUDA

#include "cuda_kernels_support.h"

namespace gn {
namespace {

template <class T>
class CudaElementwise : public CudaKernels<T> {};
TYPED_TEST_SUITE(CudaElementwise, Dtypes);

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

TYPED_TEST(CudaElementwise, BinaryMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

TYPED_TEST(CudaElementwise, BinaryRejectsTooManyAxes) {
  GN_SKIP_WITHOUT_CUDA();
  using T = TypeParam;
  const std::vector<std::int64_t> shape(9, 1), strides(9, 0);
  DeviceBuffer<T> buf(1);
  EXPECT_THROW(
      cuda::binary<T>(BinaryOp::Add, buf.get(), strides, buf.get(), strides, buf.get(), shape, cuda::current_stream()),
      Error);
}

TYPED_TEST(CudaElementwise, AxpyScaleFillMatchCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

TYPED_TEST(CudaElementwise, UnaryAndBackwardMatchCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

TYPED_TEST(CudaElementwise, SumAllMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

TYPED_TEST(CudaElementwise, SumAllIsDeterministic) {
  GN_SKIP_WITHOUT_CUDA();
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

TYPED_TEST(CudaElementwise, SumAxisMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

TYPED_TEST(CudaElementwise, BroadcastAxisMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

TEST(CudaElementwiseCopy, CopyRowsMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

TEST(CudaElementwiseCopy, StridedCopyMatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
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

}  // namespace
}  // namespace gn

#else  // !GN_WITH_CUDA

TEST(CudaElementwise, Skipped) { GN_SKIP_WITHOUT_CUDA(); }

#endif  // GN_WITH_CUDA
