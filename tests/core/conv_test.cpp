// The convolution kernels and ops against the direct nested-loop oracle (tests/core/conv_reference.h):
// forward, backward-data, backward-filter and bias at awkward geometries, float64 and float32, one and
// two threads; the stacked backward-filter against T separate calls; conv_transpose2d as the adjoint of
// conv2d; error messages.
#include "kernels/cpu/conv.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "kernels/cpu/threads.h"
#include "tests/core/conv_reference.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::ConvShape;
using gn::Shape;
using gn::Tensor;
using gn_test::all_close;
using gn_test::throws_error_with;

struct Geometry {
  std::int64_t batch, c_in, h, w, c_out, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
};

ConvShape make_shape(const Geometry& g) {
  ConvShape s;
  s.batch = g.batch, s.in_channels = g.c_in, s.in_h = g.h, s.in_w = g.w;
  s.out_channels = g.c_out, s.kernel_h = g.kh, s.kernel_w = g.kw;
  s.stride_h = g.stride_h, s.stride_w = g.stride_w, s.pad_h = g.pad_h, s.pad_w = g.pad_w;
  s.dilation_h = g.dil_h, s.dilation_w = g.dil_w;
  s.out_h = gn::conv_out_size(s.in_h, s.kernel_h, s.stride_h, s.pad_h, s.dilation_h);
  s.out_w = gn::conv_out_size(s.in_w, s.kernel_w, s.stride_w, s.pad_w, s.dilation_w);
  return s;
}

std::string describe(const ConvShape& s) {
  return "x (" + std::to_string(s.batch) + ", " + std::to_string(s.in_channels) + ", " + std::to_string(s.in_h) + ", " +
         std::to_string(s.in_w) + ") C_out " + std::to_string(s.out_channels) + " k " + std::to_string(s.kernel_h) +
         "x" + std::to_string(s.kernel_w) + " stride " + std::to_string(s.stride_h) + "x" + std::to_string(s.stride_w) +
         " pad " + std::to_string(s.pad_h) + "x" + std::to_string(s.pad_w) + " dil " + std::to_string(s.dilation_h) +
         "x" + std::to_string(s.dilation_w);
}

// Odd sizes, stride 2, padding 0/1, dilation 2, batch 1 and 3, C_in != C_out, non-square kernels, 1x1.
const std::vector<Geometry> kGeometries = {
    {1, 3, 7, 5, 4, 3, 3, 1, 1, 0, 0, 1, 1},      // plain 3x3, odd H != W
    {3, 2, 9, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1},      // stride 2, pad 1, batch 3
    {3, 4, 9, 11, 2, 3, 2, 1, 2, 1, 0, 2, 1},     // dilation 2 in H, non-square kernel, mixed stride
    {1, 5, 6, 7, 3, 1, 1, 1, 1, 0, 0, 1, 1},      // 1x1 pointwise fast path
    {3, 3, 5, 5, 2, 1, 1, 2, 2, 0, 0, 1, 1},      // 1x1 strided (im2col path)
    {2, 2, 4, 3, 3, 5, 3, 1, 1, 2, 1, 1, 1},      // kernel larger than the input, padding makes it fit
    {3, 1, 8, 8, 6, 3, 3, 3, 2, 1, 1, 2, 2},      // stride 3, dilation 2 both ways
    {2, 3, 9, 10, 5, 3, 3, 1, 1, 2, 2, 2, 2},     // stride 1, dilation 2: the direct kernel, dilated
    {3, 16, 17, 19, 32, 3, 3, 1, 1, 1, 1, 1, 1},  // big enough per sample to thread over the batch
    // Patch matrices over the 1 MB band: built and consumed in bands of output rows (at 50x40 and at 49x41
    // with stride 2 and dilation 2: 13 rows, the 512-column minimum, in both dtypes).
    {1, 64, 50, 40, 4, 3, 3, 1, 1, 1, 1, 1, 1},
    {2, 64, 99, 81, 3, 3, 3, 2, 2, 1, 2, 2, 2},
};

std::vector<double> random_vector(std::int64_t n, gn::Generator& gen) {
  return Tensor::uniform({n}, gen, -1, 1, gn::DType::Float64).to_vector();
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}
template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// The tolerance for a sum of `terms` products of values in [-1, 1] in dtype T.
template <class T>
double tolerance(std::int64_t terms) {
  return (std::is_same_v<T, float> ? 8 * FLT_EPSILON : 8 * DBL_EPSILON) * static_cast<double>(terms + 1);
}

template <class T>
void check_kernels_against_oracle(const Geometry& g, int threads) {
  const ConvShape s = make_shape(g);
  SCOPED_TRACE(describe(s) + " threads " + std::to_string(threads) + (std::is_same_v<T, float> ? " f32" : " f64"));
  gn::cpu::set_num_threads(threads);
  gn::Generator gen(42);
  const auto x = random_vector(s.x_numel(), gen), w = random_vector(s.w_numel(), gen);
  const auto b = random_vector(s.out_channels, gen), dy = random_vector(s.y_numel(), gen);
  const auto xt = as<T>(x), wt = as<T>(w), bt = as<T>(b), dyt = as<T>(dy);

  std::vector<T> y(s.y_numel(), T(7)), y_nobias(s.y_numel(), T(7));  // garbage first: kernels overwrite
  gn::cpu::conv2d_forward<T>(s, xt.data(), wt.data(), bt.data(), y.data());
  gn::cpu::conv2d_forward<T>(s, xt.data(), wt.data(), nullptr, y_nobias.data());
  const double tol_fwd = tolerance<T>(s.in_channels * s.kernel_h * s.kernel_w);
  EXPECT_TRUE(all_close(to_double(y), gn_test::direct_conv2d_forward(s, x, w, b), tol_fwd, tol_fwd));
  EXPECT_TRUE(all_close(to_double(y_nobias), gn_test::direct_conv2d_forward(s, x, w, {}), tol_fwd, tol_fwd));

  std::vector<T> dx(s.x_numel(), T(7));
  gn::cpu::conv2d_backward_data<T>(s, dyt.data(), wt.data(), dx.data());
  const double tol_data = tolerance<T>(s.out_channels * s.kernel_h * s.kernel_w);
  EXPECT_TRUE(all_close(to_double(dx), gn_test::direct_conv2d_backward_data(s, dy, w), tol_data, tol_data));

  std::vector<T> dw(s.w_numel(), T(7)), db(s.out_channels, T(7)), dw_only(s.w_numel(), T(7));
  gn::cpu::conv2d_backward_filter<T>(s, xt.data(), dyt.data(), dw.data(), db.data());
  gn::cpu::conv2d_backward_filter<T>(s, xt.data(), dyt.data(), dw_only.data(), nullptr);
  const double tol_filter = tolerance<T>(s.batch * s.out_h * s.out_w);
  EXPECT_TRUE(all_close(to_double(dw), gn_test::direct_conv2d_backward_filter(s, x, dy), tol_filter, tol_filter));
  EXPECT_EQ(dw, dw_only);
  EXPECT_TRUE(all_close(to_double(db), gn_test::direct_conv2d_backward_bias(s, dy), tol_filter, tol_filter));
  gn::cpu::set_num_threads(1);
}

TEST(ConvKernels, MatchDirectLoopsFloat64) {
  for (const auto& g : kGeometries)
    for (int threads : {1, 2}) check_kernels_against_oracle<double>(g, threads);
}

TEST(ConvKernels, MatchDirectLoopsFloat32) {
  for (const auto& g : kGeometries)
    for (int threads : {1, 2}) check_kernels_against_oracle<float>(g, threads);
}

TEST(ConvKernels, ResultsDoNotDependOnThreadCountForTheBatchSplit) {
  // Forward and backward-data write each sample from one thread: 1 or 3 threads, the same bits when the
  // per-sample GEMM runs single-threaded in both (batch >= threads in the threaded run, batch 1 per call).
  const ConvShape s = make_shape({3, 16, 17, 19, 32, 3, 3, 1, 1, 1, 1, 1, 1});  // >= 2^20 MACs per sample
  gn::Generator gen(3);
  const auto x = random_vector(s.x_numel(), gen), w = random_vector(s.w_numel(), gen);
  std::vector<double> threaded(s.y_numel()), serial(s.y_numel());
  gn::cpu::set_num_threads(3);
  gn::cpu::conv2d_forward<double>(s, x.data(), w.data(), nullptr, threaded.data());
  gn::cpu::set_num_threads(1);
  gn::cpu::conv2d_forward<double>(s, x.data(), w.data(), nullptr, serial.data());
  EXPECT_EQ(threaded, serial);
  const auto dy = random_vector(s.y_numel(), gen);
  std::vector<double> dx_threaded(s.x_numel()), dx_serial(s.x_numel());
  gn::cpu::set_num_threads(3);
  gn::cpu::conv2d_backward_data<double>(s, dy.data(), w.data(), dx_threaded.data());
  gn::cpu::set_num_threads(1);
  gn::cpu::conv2d_backward_data<double>(s, dy.data(), w.data(), dx_serial.data());
  EXPECT_EQ(dx_threaded, dx_serial);
}

TEST(ConvKernels, Im2colThenCol2imIsTheAdjointPair) {
  // <im2col(x), c> == <x, col2im(c)> for every x, c.
  const ConvShape s = make_shape({1, 2, 7, 6, 1, 3, 2, 2, 1, 1, 1, 2, 1});
  gn::Generator gen(4);
  const std::int64_t rows = s.in_channels * s.kernel_h * s.kernel_w, cols = s.out_h * s.out_w;
  const auto x = random_vector(s.in_channels * s.in_h * s.in_w, gen), c = random_vector(rows * cols, gen);
  std::vector<double> col(rows * cols), back(x.size());
  gn::cpu::im2col<double>(s, x.data(), col.data());
  gn::cpu::col2im<double>(s, c.data(), back.data());
  double lhs = 0, rhs = 0;
  for (std::size_t i = 0; i < col.size(); ++i) lhs += col[i] * c[i];
  for (std::size_t i = 0; i < x.size(); ++i) rhs += x[i] * back[i];
  EXPECT_NEAR(lhs, rhs, 1e-12 * static_cast<double>(col.size()));
}

// ---- the stacked backward-filter ----

template <class T>
void check_stacked(const Geometry& g, int num_tasks) {
  const ConvShape s = make_shape(g);
  SCOPED_TRACE(describe(s) + " T=" + std::to_string(num_tasks));
  gn::Generator gen(7);
  const std::int64_t C = s.out_channels, HW = s.out_h * s.out_w, T_ = num_tasks;
  const auto x = as<T>(random_vector(s.x_numel(), gen));
  const auto stacked = as<T>(random_vector(s.batch * T_ * C * HW, gen));  // (B, T*C, Ho, Wo)
  std::vector<T> dw(T_ * s.w_numel(), T(7)), db(T_ * C, T(7));
  gn::cpu::conv2d_backward_filter_stacked<T>(s, num_tasks, x.data(), stacked.data(), dw.data(), db.data());
  for (int t = 0; t < num_tasks; ++t) {
    // Task t's own dy: channels [t*C, (t+1)*C) of every sample.
    std::vector<T> dy(s.y_numel());
    for (std::int64_t n = 0; n < s.batch; ++n)
      std::copy_n(stacked.data() + (n * T_ + t) * C * HW, C * HW, dy.data() + n * C * HW);
    std::vector<T> dw_t(s.w_numel()), db_t(C);
    gn::cpu::conv2d_backward_filter<T>(s, x.data(), dy.data(), dw_t.data(), db_t.data());
    const double tol = tolerance<T>(s.batch * HW);
    EXPECT_TRUE(all_close(to_double(std::vector<T>(dw.begin() + t * s.w_numel(), dw.begin() + (t + 1) * s.w_numel())),
                          to_double(dw_t), tol, tol))
        << "task " << t;
    EXPECT_TRUE(
        all_close(to_double(std::vector<T>(db.begin() + t * C, db.begin() + (t + 1) * C)), to_double(db_t), tol, tol))
        << "task " << t;
  }
}

TEST(ConvKernels, StackedBackwardFilterEqualsSeparateCalls) {
  for (int tasks : {1, 3}) {
    check_stacked<double>(kGeometries[1], tasks);
    check_stacked<double>(kGeometries[2], tasks);
    check_stacked<float>(kGeometries[3], tasks);
    check_stacked<float>(kGeometries[6], tasks);
    check_stacked<double>(kGeometries[9], tasks);  // several bands
  }
}

// ---- the ops ----

TEST(Conv2dOp, ForwardMatchesDirectLoopsWithPyTorchLayouts) {
  gn::Generator gen(8);
  const Geometry g{3, 2, 9, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1};
  const ConvShape s = make_shape(g);
  const Tensor x = Tensor::uniform({3, 2, 9, 7}, gen, -1, 1, gn::DType::Float64);
  const Tensor w = Tensor::uniform({5, 2, 3, 3}, gen, -1, 1, gn::DType::Float64);
  const Tensor b = Tensor::uniform({5}, gen, -1, 1, gn::DType::Float64);
  const Tensor y = gn::conv2d(x, w, b, 2, 1);
  EXPECT_EQ(y.shape(), (Shape{3, 5, 5, 4}));
  EXPECT_TRUE(
      all_close(y, gn_test::direct_conv2d_forward(s, x.to_vector(), w.to_vector(), b.to_vector()), 1e-13, 1e-13));
  // Per-axis stride / padding / dilation.
  const Tensor y2 = gn::conv2d(x, w, Tensor(), {1, 2}, {1, 0}, {2, 1});
  const ConvShape s2 = make_shape({3, 2, 9, 7, 5, 3, 3, 1, 2, 1, 0, 2, 1});
  EXPECT_EQ(y2.shape(), (Shape{3, 5, s2.out_h, s2.out_w}));
  EXPECT_TRUE(all_close(y2, gn_test::direct_conv2d_forward(s2, x.to_vector(), w.to_vector(), {}), 1e-13, 1e-13));
}

TEST(Conv2dOp, HandComputedValue) {
  // x = 1..9 in a 3x3, weight all ones 2x2, no padding: each output is the sum of a 2x2 window.
  std::vector<double> xs{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const Tensor x = Tensor::from_vector(xs, {1, 1, 3, 3}, gn::DType::Float64);
  const Tensor w = Tensor::ones({1, 1, 2, 2}, gn::DType::Float64);
  const Tensor b = Tensor::full({1}, 0.5, gn::DType::Float64);
  EXPECT_EQ(gn::conv2d(x, w, b).to_vector(), (std::vector<double>{12.5, 16.5, 24.5, 28.5}));
  // Padding 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1).
  EXPECT_EQ(gn::conv2d(x, w, Tensor(), 2, 1).to_vector(), (std::vector<double>{1, 5, 11, 28}));
}

TEST(ConvTranspose2dOp, IsTheAdjointOfConv2dPlusBias) {
  // conv_transpose2d(dy, w) is conv2d's backward-data: the oracle's backward-data, plus the bias.
  gn::Generator gen(9);
  for (const Geometry& g : kGeometries) {
    const ConvShape s = make_shape(g);
    SCOPED_TRACE(describe(s));
    // Our output size is in_h exactly when output_padding = (in_h + 2p - d(k-1) - 1) mod stride.
    const gn::Size2 op{(s.in_h + 2 * s.pad_h - s.dilation_h * (s.kernel_h - 1) - 1) % s.stride_h,
                       (s.in_w + 2 * s.pad_w - s.dilation_w * (s.kernel_w - 1) - 1) % s.stride_w};
    const Tensor dy = Tensor::uniform({s.batch, s.out_channels, s.out_h, s.out_w}, gen, -1, 1, gn::DType::Float64);
    // conv weight (C_out, C_in, k) is the transposed op's (C_in_t, C_out_t, k) as is.
    const Tensor w =
        Tensor::uniform({s.out_channels, s.in_channels, s.kernel_h, s.kernel_w}, gen, -1, 1, gn::DType::Float64);
    const Tensor b = Tensor::uniform({s.in_channels}, gen, -1, 1, gn::DType::Float64);
    const Tensor y =
        gn::conv_transpose2d(dy, w, b, {s.stride_h, s.stride_w}, {s.pad_h, s.pad_w}, op, {s.dilation_h, s.dilation_w});
    ASSERT_EQ(y.shape(), (Shape{s.batch, s.in_channels, s.in_h, s.in_w}));
    auto expected = gn_test::direct_conv2d_backward_data(s, dy.to_vector(), w.to_vector());
    const auto bv = b.to_vector();
    for (std::size_t k = 0; k < expected.size(); ++k) expected[k] += bv[(k / (s.in_h * s.in_w)) % s.in_channels];
    EXPECT_TRUE(all_close(y, expected, 1e-13, 1e-13));
  }
}

TEST(ConvTranspose2dOp, OutputSizeFollowsPyTorch) {
  const Tensor x = Tensor::ones({2, 3, 5, 4}, gn::DType::Float64);
  const Tensor w = Tensor::ones({3, 6, 3, 2}, gn::DType::Float64);
  // H: (5-1)*2 - 2*1 + 1*(3-1) + 1 + 1 = 10; W: (4-1)*3 - 0 + 2*(2-1) + 2 + 1 = 14.
  EXPECT_EQ(gn::conv_transpose2d(x, w, Tensor(), {2, 3}, {1, 0}, {1, 2}, {1, 2}).shape(), (Shape{2, 6, 10, 14}));
  EXPECT_EQ(gn::conv_transpose2d(x, w, Tensor()).shape(), (Shape{2, 6, 7, 5}));
  // output_padding smaller than dilation (stride 1) is allowed, as in PyTorch: the extra row is the bias alone.
  const Tensor b = Tensor::full({6}, 0.25, gn::DType::Float64);
  const Tensor y = gn::conv_transpose2d(x, w, b, 1, 0, {1, 0}, {2, 1});
  EXPECT_EQ(y.shape(), (Shape{2, 6, 10, 5}));
  const auto v = y.to_vector();
  for (std::int64_t j = 0; j < 5; ++j) EXPECT_EQ(v[9 * 5 + j], 0.25) << j;
}

TEST(ConvOps, GradientsFlowOnlyWhereAsked) {
  gn::Generator gen(10);
  Tensor x = Tensor::uniform({2, 3, 6, 5}, gen, -1, 1, gn::DType::Float64);
  Tensor w = Tensor::uniform({4, 3, 3, 3}, gen, -1, 1, gn::DType::Float64).set_requires_grad();
  Tensor b = Tensor::uniform({4}, gen, -1, 1, gn::DType::Float64);
  gn::backward(gn::sum(gn::conv2d(x, w, b, 1, 1)));
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  Tensor b2 = b.clone().set_requires_grad();
  gn::backward(gn::sum(gn::conv2d(x, w.detach(), b2, 1, 1)));
  // d sum / d bias[o] = number of outputs per channel = 2 * 6 * 5.
  EXPECT_TRUE(all_close(b2.grad(), std::vector<double>(4, 60.0), 1e-12, 0));
}

TEST(ConvOps, BadInputsNameTheOpAndTheShapes) {
  const Tensor x = Tensor::zeros({2, 3, 8, 8});
  const Tensor w = Tensor::zeros({4, 3, 3, 3});
  EXPECT_TRUE(throws_error_with([&] { gn::conv2d(Tensor::zeros({3, 8, 8}), w, Tensor()); }, {"conv2d", "(3, 8, 8)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv2d(x, Tensor::zeros({4, 2, 3, 3}), Tensor());
      },
      {"conv2d", "(2, 3, 8, 8)", "(4, 2, 3, 3)", "channels"}));
  EXPECT_TRUE(throws_error_with([&] { gn::conv2d(x, Tensor::zeros({4, 3, 3}), Tensor()); }, {"conv2d", "(4, 3, 3)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::conv2d(x, w, Tensor::zeros({3})); }, {"conv2d", "bias", "(3,)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::conv2d(x, w, Tensor(), 0); }, {"conv2d", "stride", "(0, 0)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::conv2d(x, w, Tensor(), 1, {-1, 0}); }, {"conv2d", "padding", "(-1, 0)"}));
  EXPECT_TRUE(throws_error_with([&] { gn::conv2d(x, w, Tensor(), 1, 0, {1, 0}); }, {"conv2d", "dilation"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv2d(Tensor::zeros({1, 3, 2, 2}), w, Tensor());
      },
      {"conv2d", "does not fit", "(1, 3, 2, 2)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv2d(x, Tensor::zeros({4, 3, 3, 3}, gn::DType::Float64), Tensor());
      },
      {"conv2d"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv2d(Tensor::zeros({2, 3, 8, 8}, gn::DType::Int64), w, Tensor());
      },
      {"conv2d", "int64"}));
  // Transposed: weight is (C_in, C_out, kH, kW).
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv_transpose2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor());
      },
      {"conv_transpose2d", "(2, 3, 8, 8)", "(4, 3, 3, 3)", "channels"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv_transpose2d(x, Tensor::zeros({3, 4, 3, 3}), Tensor(), 2, 0, 2);
      },
      {"conv_transpose2d", "output_padding", "(2, 2)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv_transpose2d(x, Tensor::zeros({3, 4, 3, 3}), Tensor::zeros({3}));
      },
      {"conv_transpose2d", "bias", "(3,)"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        gn::conv_transpose2d(Tensor::zeros({1, 3, 1, 1}), Tensor::zeros({3, 4, 1, 1}), Tensor(), 1, 1);
      },
      {"conv_transpose2d", "empty output"}));
}

}  // namespace
