// conv2d and conv_transpose2d on CUDA (cuDNN, float32) against the CPU in float64, forward and every
// gradient, plus the stacked backward-filter; tolerances from tests/core/backend_parity.h, with the
// magnitude M of each element from the same float64 computation on |inputs|. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/dispatch_conv.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/core/backend_parity.h"
#include "tests/core/gradcheck.h"
#include "tests/cuda_test_support.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Size2;
using gn::Tensor;
using V = std::vector<Tensor>;

struct Case {
  std::int64_t batch, c_in, h, w, c_out, kh, kw;
  Size2 stride, padding, dilation;
};

const Case kCases[] = {
    {1, 3, 7, 5, 4, 3, 3, 1, 0, 1}, {3, 2, 9, 7, 5, 3, 3, 2, 1, 1},     {3, 4, 9, 11, 2, 3, 2, {1, 2}, {1, 0}, {2, 1}},
    {2, 5, 6, 7, 3, 1, 1, 1, 0, 1}, {2, 16, 33, 31, 24, 3, 3, 1, 1, 1},
};

Tensor abs_of(const Tensor& t) { return gn::abs(t.detach()); }

// [y, d/dx, d/dweight, d/dbias] of sum(op(x, weight, bias) * seed), on the device and dtype of the inputs.
template <class Op>
std::vector<std::vector<double>> run(const Op& op, const V& in, const Tensor& seed) {
  V leaves;
  for (const Tensor& t : in) leaves.push_back(t.detach().set_requires_grad());
  const Tensor y = op(leaves[0], leaves[1], leaves[2]);
  const Tensor s = seed.detach();
  const V grads = gn::grad(std::span<const Tensor>(&y, 1), leaves, std::span<const Tensor>(&s, 1));
  std::vector<std::vector<double>> out{y.to_vector()};
  for (const Tensor& g : grads) out.push_back(g.to_vector());
  return out;
}

// The op on CUDA float32 against CPU float64 on the same (float32-rounded) numbers.
template <class Op>
void check_parity(const std::string& what, const Op& op, const V& inputs64, const Shape& y_shape,
                  const std::vector<std::int64_t>& reduction_lengths, gn::Generator& gen) {
  const Tensor seed64 = Tensor::uniform(y_shape, gen, -1, 1, DType::Float32).to(DType::Float64);
  V cuda_in, cpu_in, abs_in;
  for (const Tensor& t : inputs64) {
    const Tensor t32 = t.to(DType::Float32);
    cuda_in.push_back(t32.to(gn::cuda_device(0)));
    cpu_in.push_back(t32.to(DType::Float64));
    abs_in.push_back(abs_of(cpu_in.back()));
  }
  const auto got = run(op, cuda_in, seed64.to(DType::Float32).to(gn::cuda_device(0)));
  const auto ref = run(op, cpu_in, seed64);
  const auto mag = run(op, abs_in, abs_of(seed64));
  const char* names[] = {"y", "d/dx", "d/dweight", "d/dbias"};
  for (std::size_t k = 0; k < ref.size(); ++k)
    EXPECT_TRUE(gn_parity::parity_close(what + " " + names[k], got[k], ref[k], mag[k], reduction_lengths[k]));
}

TEST(ConvCuda, Conv2dMatchesCpuFloat64) {
  GN_SKIP_WITHOUT_CUDA();
  gn::Generator gen(20);
#ifndef GN_WITH_CUDNN
  EXPECT_THROW(gn::conv2d(Tensor::zeros({1, 1, 3, 3}, DType::Float32, gn::cuda_device(0)),
                          Tensor::zeros({1, 1, 1, 1}, DType::Float32, gn::cuda_device(0)), Tensor()),
               gn::Error);
  GTEST_SKIP() << "this CUDA build has no cuDNN: conv2d on CUDA throws, as checked";
#endif
  for (const Case& c : kCases) {
    const V in{Tensor::uniform({c.batch, c.c_in, c.h, c.w}, gen, -1, 1, DType::Float64),
               Tensor::uniform({c.c_out, c.c_in, c.kh, c.kw}, gen, -1, 1, DType::Float64),
               Tensor::uniform({c.c_out}, gen, -1, 1, DType::Float64)};
    auto op = [&](const Tensor& x, const Tensor& w, const Tensor& b) {
      return gn::conv2d(x, w, b, c.stride, c.padding, c.dilation);
    };
    const Shape ys = gn::conv2d(in[0], in[1], in[2], c.stride, c.padding, c.dilation).shape();
    const std::int64_t k = c.kh * c.kw, hw = ys[2] * ys[3];
    check_parity("conv2d x (" + std::to_string(c.batch) + ", " + std::to_string(c.c_in) + ", " + std::to_string(c.h) +
                     ", " + std::to_string(c.w) + ")",
                 op, in, ys, {c.c_in * k + 1, c.c_out * k, c.batch * hw, c.batch * hw}, gen);
  }
}

TEST(ConvCuda, ConvTranspose2dMatchesCpuFloat64) {
  GN_SKIP_WITHOUT_CUDA();
#ifndef GN_WITH_CUDNN
  GTEST_SKIP() << "this CUDA build has no cuDNN";
#endif
  gn::Generator gen(21);
  for (const Case& c : kCases) {
    const Size2 output_padding{c.stride.h > 1 ? 1 : 0, c.stride.w > 1 ? 1 : 0};
    const V in{Tensor::uniform({c.batch, c.c_in, c.h, c.w}, gen, -1, 1, DType::Float64),
               Tensor::uniform({c.c_in, c.c_out, c.kh, c.kw}, gen, -1, 1, DType::Float64),
               Tensor::uniform({c.c_out}, gen, -1, 1, DType::Float64)};
    auto op = [&](const Tensor& x, const Tensor& w, const Tensor& b) {
      return gn::conv_transpose2d(x, w, b, c.stride, c.padding, output_padding, c.dilation);
    };
    const Shape ys = op(in[0], in[1], in[2]).shape();
    const std::int64_t k = c.kh * c.kw;
    check_parity("conv_transpose2d x (" + std::to_string(c.batch) + ", " + std::to_string(c.c_in) + ", " +
                     std::to_string(c.h) + ", " + std::to_string(c.w) + ")",
                 op, in, ys, {c.c_in * k + 1, c.c_out * k, c.batch * c.h * c.w, c.batch * ys[2] * ys[3]}, gen);
  }
}

TEST(ConvCuda, StackedBackwardFilterMatchesCpuFloat64) {
  GN_SKIP_WITHOUT_CUDA();
#ifndef GN_WITH_CUDNN
  GTEST_SKIP() << "this CUDA build has no cuDNN";
#endif
  gn::Generator gen(22);
  constexpr int T = 3;
  gn::ConvShape s;
  s.batch = 3, s.in_channels = 4, s.in_h = 9, s.in_w = 7, s.out_channels = 5, s.kernel_h = 3, s.kernel_w = 3;
  s.stride_h = 2, s.stride_w = 1, s.pad_h = 1, s.pad_w = 1;
  s.out_h = gn::conv_out_size(s.in_h, 3, 2, 1, 1), s.out_w = gn::conv_out_size(s.in_w, 3, 1, 1, 1);
  const Tensor x32 = Tensor::uniform({s.batch, s.in_channels, s.in_h, s.in_w}, gen, -1, 1, DType::Float32);
  const Tensor dy32 = Tensor::uniform({s.batch, T * s.out_channels, s.out_h, s.out_w}, gen, -1, 1, DType::Float32);
  auto stacked = [&](const Tensor& x, const Tensor& dy) {
    Tensor dw = Tensor::empty({T * s.out_channels, s.in_channels, 3, 3}, x.dtype(), x.device());
    Tensor db = Tensor::empty({T * s.out_channels}, x.dtype(), x.device());
    GN_DISPATCH_FLOAT(x.dtype(), "test", [&] {
      gn::dispatch::conv2d_backward_filter_stacked<scalar_t>(x.device(), s, T, x.data<scalar_t>(), dy.data<scalar_t>(),
                                                             dw.data<scalar_t>(), db.data<scalar_t>());
    });
    return std::vector<std::vector<double>>{dw.to_vector(), db.to_vector()};
  };
  const auto got = stacked(x32.to(gn::cuda_device(0)), dy32.to(gn::cuda_device(0)));
  const auto ref = stacked(x32.to(DType::Float64), dy32.to(DType::Float64));
  const auto mag = stacked(abs_of(x32.to(DType::Float64)), abs_of(dy32.to(DType::Float64)));
  const std::int64_t n = s.batch * s.out_h * s.out_w;
  EXPECT_TRUE(gn_parity::parity_close("stacked dweight", got[0], ref[0], mag[0], n));
  EXPECT_TRUE(gn_parity::parity_close("stacked dbias", got[1], ref[1], mag[1], n));
}

}  // namespace
