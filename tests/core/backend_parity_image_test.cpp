// Backend parity for the image ops (core/ops_conv.h, core/ops_pool.h), the same method as
// tests/core/backend_parity_test.cpp: CPU float32 and CUDA float32 against CPU float64, forward and every
// gradient, tolerances derived from float32's unit roundoff and each value's reduction length. Shapes are
// odd on purpose (7x5 images, stride 2, padding, dilation, output padding).
#include <gtest/gtest.h>

#include "core/ops.h"
#include "tests/core/backend_parity_case.h"
#include "tests/cuda_test_support.h"

namespace {

class BackendParityImage : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Cuda) GN_SKIP_WITHOUT_CUDA();
  }
  void run(const Case& c) { check_case(c, gn_parity::device_of(GetParam()), gen_); }
  gn::Generator gen_{0x1a6e'5eed};
};

TEST_P(BackendParityImage, Conv2d) {
  // stride 2, padding 1 on 7x5: 4x3 outputs; each output sums C_in kH kW products (+ bias); dx sums
  // C_out kH kW terms, dW and db sum over B Ho Wo.
  const OpFn strided = [](const TensorList& x) { return gn::conv2d(x[0], x[1], x[2], 2, 1); };
  run(Case("conv2d (2,3,7,5) * (4,3,3,3) stride 2 pad 1",
           {signed_input({2, 3, 7, 5}, gen_), signed_input({4, 3, 3, 3}, gen_), signed_input({4}, gen_)}, strided)
          .reduce_len(3 * 9 + 1)
          .grad_lens({4 * 9, 2 * 4 * 3, 2 * 4 * 3})
          .magnitude(abs_terms(strided)));
  const OpFn dilated = [](const TensorList& x) { return gn::conv2d(x[0], x[1], Tensor(), 1, 2, 2); };
  run(Case("conv2d (1,2,9,8) * (3,2,3,3) dilation 2 pad 2, no bias",
           {signed_input({1, 2, 9, 8}, gen_), signed_input({3, 2, 3, 3}, gen_)}, dilated)
          .reduce_len(2 * 9)
          .grad_lens({3 * 9, 9 * 8})
          .magnitude(abs_terms(dilated)));
}

TEST_P(BackendParityImage, ConvTranspose2d) {
  // (2,4,3,3) -> (2,3,6,6): each output gathers at most C_in kH kW terms (+ bias); dx sums C_out kH kW,
  // dW sums over B H W, db over B Ho Wo.
  const OpFn up = [](const TensorList& x) { return gn::conv_transpose2d(x[0], x[1], x[2], 2, 1, 1); };
  run(Case("conv_transpose2d (2,4,3,3) * (4,3,3,3) stride 2 pad 1 output_padding 1",
           {signed_input({2, 4, 3, 3}, gen_), signed_input({4, 3, 3, 3}, gen_), signed_input({3}, gen_)}, up)
          .reduce_len(4 * 9 + 1)
          .grad_lens({3 * 9, 2 * 3 * 3, 2 * 6 * 6})
          .magnitude(abs_terms(up)));
}

// Batch norm's magnitudes: the output w xhat + b and its gradients cancel, so M is the size of the terms, not
// of the result: |w||xhat| + |b| for y; for dx = w rstd (g - mean(g) - xhat mean(g xhat)) the same with every
// term positive; sum |g xhat| for dw and sum |g| for db (per channel, over N H W).
Magnitudes batch_norm_terms(const TensorList& in, const Tensor& seed) {
  gn::NoGradGuard no_grad;
  const std::int64_t C = in[0].size(1);
  const Shape per_channel{1, C, 1, 1};
  auto channel_mean = [&](const Tensor& t) {  // (N, C, H, W) -> (1, C, 1, 1)
    return gn::reshape(gn::mean(gn::reshape(gn::transpose(t, 0, 1), {C, -1}), 1), per_channel);
  };
  const Tensor xhat = gn::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
  const Tensor centered = gn::sub(in[0], channel_mean(in[0]));
  const Tensor rstd = gn::pow(gn::add(channel_mean(gn::mul(centered, centered)), 1e-5), -0.5);
  const Tensor w = gn::abs(gn::reshape(in[1], per_channel)), b = gn::abs(gn::reshape(in[2], per_channel));
  const Tensor g = gn::abs(seed), gx = gn::mul(g, gn::abs(xhat));
  Magnitudes m;
  m.out = gn::add(gn::mul(w, gn::abs(xhat)), b);
  m.grads.push_back(
      gn::mul(gn::mul(w, rstd), gn::add(gn::add(g, channel_mean(g)), gn::mul(gn::abs(xhat), channel_mean(gx)))));
  const double n = static_cast<double>(in[0].numel() / C);
  m.grads.push_back(gn::mul(gn::reshape(channel_mean(gx), {C}), n));
  m.grads.push_back(gn::mul(gn::reshape(channel_mean(g), {C}), n));
  return m;
}

TEST_P(BackendParityImage, BatchNorm) {
  // Training mode: every output depends on its channel's mean and variance over N H W = 100 values.
  const OpFn bn = [](const TensorList& x) {
    return gn::batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], /*training=*/true);
  };
  run(Case("batch_norm train (4,3,5,5)",
           {signed_input({4, 3, 5, 5}, gen_), signed_input({3}, gen_), signed_input({3}, gen_)}, bn)
          .reduce_len(100)
          .grad_lens({100, 100, 100})
          .magnitude(batch_norm_terms));
}

// The derived batch-norm tolerance is not vacuous: float32 batch norm passes it, and a float64 result off by
// 1e-4 of its terms' magnitude fails it.
TEST(BackendParityImageTolerance, BatchNormMagnitudesAcceptRoundingAndCatchErrors) {
  gn::Generator gen(3);
  const TensorList in{signed_input({4, 3, 5, 5}, gen), signed_input({3}, gen), signed_input({3}, gen)};
  const Tensor ref = gn::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true);
  TensorList in32;
  for (const Tensor& t : in) in32.push_back(t.to(gn::DType::Float32));
  const Tensor got = gn::batch_norm(in32[0], Tensor(), Tensor(), in32[1], in32[2], true);
  const std::vector<double> m = batch_norm_terms(in, Tensor::ones(ref.shape(), gn::DType::Float64)).out.to_vector();
  EXPECT_TRUE(gn_parity::parity_close("float32", got.to_vector(), ref.to_vector(), m, 100));
  std::vector<double> off = ref.to_vector();
  off[17] += 1e-4 * m[17];
  EXPECT_FALSE(gn_parity::parity_close("off by 1e-4 M", off, ref.to_vector(), m, 100));
}

TEST_P(BackendParityImage, PoolUnpoolUpsample) {
  const OpFn pool = [](const TensorList& x) { return gn::max_pool2d(x[0], 2, 2); };
  run(Case("max_pool2d (2,3,7,6) 2x2 stride 2", {signed_input({2, 3, 7, 6}, gen_)}, pool));
  const OpFn overlapping = [](const TensorList& x) { return gn::max_pool2d(x[0], 3, 2, 1); };
  run(Case("max_pool2d (1,2,7,5) 3x3 stride 2 pad 1", {signed_input({1, 2, 7, 5}, gen_)}, overlapping)
          .grad_lens({4}));  // an input can be the max of up to 4 overlapping windows
  const Tensor indices = gn::max_pool2d_with_indices(signed_input({2, 3, 7, 6}, gen_), 2, 2).indices;
  const OpFn unpool = [](const TensorList& x) { return gn::max_unpool2d(x[0], x[1], 7, 6); };
  run(Case("max_unpool2d (2,3,3,3) -> 7x6", {signed_input({2, 3, 3, 3}, gen_), indices}, unpool));
  const OpFn nearest = [](const TensorList& x) { return gn::upsample_nearest2d(x[0], 7, 9); };
  run(Case("upsample_nearest2d (2,3,4,5) -> 7x9", {signed_input({2, 3, 4, 5}, gen_)}, nearest)
          .grad_lens({4})  // an input pixel feeds up to 2 x 2 output pixels
          .magnitude(abs_terms(nearest)));
  for (const bool align : {false, true}) {
    const OpFn bilinear = [align](const TensorList& x) { return gn::upsample_bilinear2d(x[0], 7, 9, align); };
    // Each output mixes 4 inputs, but its weights come from a source coordinate computed in the working
    // precision: src = (dst + 0.5) in/out - 0.5 reaches ~4, its rounding error ~2 u (|src| + 1) moves the
    // weights, and that times |x1 - x0| <= M gives ~10-16 u M: the bound of a 128-term sum (2 u d(n) M, d = 8).
    run(Case(std::string("upsample_bilinear2d (2,3,4,5) -> 7x9 align_corners ") + (align ? "true" : "false"),
             {signed_input({2, 3, 4, 5}, gen_)}, bilinear)
            .reduce_len(128)
            .grad_lens({128})
            .magnitude(abs_terms(bilinear)));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendParityImage, ::testing::Values(Backend::Cpu, Backend::Cuda),
                         [](const auto& info) { return info.param == Backend::Cpu ? "cpu" : "cuda"; });

}  // namespace
