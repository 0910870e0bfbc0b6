// BatchNorm2d (train/eval behaviour, running statistics, state_dict round trip with its buffers) and the
// pooling layers (MaxPool2d, MaxUnpool2d, Upsample): shapes and the values they hand to the ops.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "error_of.h"
#include "nn/batch_norm.h"
#include "nn/pool.h"

namespace gn::nn {
namespace {

std::vector<double> vec(const Tensor& t) { return t.to_vector(); }

TEST(BatchNorm2d, ParametersBuffersAndDefaults) {
  BatchNorm2d bn(3);
  const auto params = bn.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_EQ(params[1].first, "bias");
  EXPECT_EQ(vec(bn.weight), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(vec(bn.bias), (std::vector<double>{0, 0, 0}));
  const auto bufs = bn.named_buffers();
  ASSERT_EQ(bufs.size(), 3u);
  EXPECT_EQ(bufs[0].first, "running_mean");
  EXPECT_EQ(bufs[1].first, "running_var");
  EXPECT_EQ(bufs[2].first, "num_batches_tracked");
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::Int64);
  EXPECT_EQ(vec(bn.running_var), (std::vector<double>{1, 1, 1}));
  BatchNorm2d plain(2, 1e-5, 0.1, /*affine=*/false);
  EXPECT_TRUE(plain.named_parameters().empty());
  EXPECT_FALSE(plain.weight.defined());
}

TEST(BatchNorm2d, TrainEvalSwitchAndRunningStatistics) {
  Generator gen(5);
  BatchNorm2d bn(2, 1e-5, 0.1, true, DType::Float64);
  const Tensor x = Tensor::uniform({4, 2, 3, 3}, gen, 1, 5, DType::Float64);

  // Training: batch statistics; the running ones move and the counter counts.
  const Tensor y_train = bn(x);
  const auto rm1 = vec(bn.running_mean), rv1 = vec(bn.running_var);
  EXPECT_NE(rm1, (std::vector<double>{0, 0}));
  EXPECT_EQ(bn.num_batches_tracked.to_vector()[0], 1.0);
  // The output is normalised per channel.
  const auto yt = vec(y_train);
  double s = 0;
  for (int n = 0; n < 4; ++n)
    for (int i = 0; i < 9; ++i) s += yt[(n * 2 + 0) * 9 + i];
  EXPECT_NEAR(s / 36, 0.0, 1e-12);

  // Eval: running statistics, no update, a different output for the same input.
  bn.eval();
  EXPECT_FALSE(bn.is_training());
  const Tensor y_eval = bn(x);
  EXPECT_EQ(vec(bn.running_mean), rm1);
  EXPECT_EQ(vec(bn.running_var), rv1);
  EXPECT_EQ(bn.num_batches_tracked.to_vector()[0], 1.0);
  EXPECT_NE(vec(y_eval), yt);
  const Tensor y_eval2 = bn(x);
  EXPECT_EQ(vec(y_eval2), vec(y_eval));
  // Eval output = (x - running_mean) / sqrt(running_var + eps).
  const auto xv = vec(x), ye = vec(y_eval);
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(ye[9 + i], (xv[9 + i] - rm1[1]) / std::sqrt(rv1[1] + 1e-5), 1e-12);

  // Back to training: the statistics move again.
  bn.train();
  (void)bn(x);
  EXPECT_NE(vec(bn.running_mean), rm1);
  EXPECT_EQ(bn.num_batches_tracked.to_vector()[0], 2.0);
}

TEST(BatchNorm2d, GradientsReachWeightAndBias) {
  Generator gen(6);
  BatchNorm2d bn(3, 1e-5, 0.1, true, DType::Float64);
  const Tensor x = Tensor::uniform({2, 3, 4, 5}, gen, -1, 1, DType::Float64);
  const Tensor r = Tensor::uniform({2, 3, 4, 5}, gen, -1, 1, DType::Float64);
  backward(sum(mul(bn(x), r)));
  ASSERT_TRUE(bn.weight.grad().defined());
  ASSERT_TRUE(bn.bias.grad().defined());
  // d/d bias = the sum of r over each channel.
  const auto rv = vec(r), gb = vec(bn.bias.grad());
  for (int c = 0; c < 3; ++c) {
    double s = 0;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 20; ++i) s += rv[(n * 3 + c) * 20 + i];
    EXPECT_NEAR(gb[c], s, 1e-12);
  }
}

TEST(BatchNorm2d, StateDictRoundTripWithBuffers) {
  Generator gen(7);
  BatchNorm2d a(2), b(2);
  const Tensor x = Tensor::uniform({3, 2, 2, 3}, gen, 0, 4);
  for (int s = 0; s < 3; ++s) (void)a(x);
  a.weight.fill_(1.5);
  const auto state = a.state_dict();
  ASSERT_EQ(state.size(), 5u);
  b.load_state_dict(state);
  EXPECT_EQ(vec(b.running_mean), vec(a.running_mean));
  EXPECT_EQ(vec(b.running_var), vec(a.running_var));
  EXPECT_EQ(vec(b.weight), vec(a.weight));
  EXPECT_EQ(b.num_batches_tracked.to_vector()[0], 3.0);
  a.eval();
  b.eval();
  EXPECT_EQ(vec(b(x)), vec(a(x)));
  // A wrong shape is refused, naming the entry.
  BatchNorm2d c(3);
  EXPECT_NE(error_of([&] { c.load_state_dict(state); }).find("running_mean"), std::string::npos);
}

TEST(BatchNorm2d, Errors) {
  BatchNorm2d bn(3);
  EXPECT_NE(error_of([&] { bn(Tensor::zeros({2, 4, 2, 2})); }).find("BatchNorm2d(3)"), std::string::npos);
  EXPECT_NE(error_of([&] { bn(Tensor::zeros({2, 3})); }).find("(N, 3, H, W)"), std::string::npos);
  EXPECT_NE(error_of([] { BatchNorm2d(0); }).find("num_features"), std::string::npos);
}

TEST(PoolModules, MaxPoolUnpoolShapes) {
  Generator gen(8);
  MaxPool2d pool(2);  // stride defaults to the kernel
  EXPECT_EQ(pool.stride().h, 2);
  const Tensor x = Tensor::uniform({2, 3, 7, 6}, gen, -1, 1);
  const auto r = pool.forward_with_indices(x);
  EXPECT_EQ(r.values.shape(), (Shape{2, 3, 3, 3}));
  EXPECT_EQ(r.indices.shape(), (Shape{2, 3, 3, 3}));
  EXPECT_EQ(vec(pool(x)), vec(r.values));
  MaxUnpool2d unpool(2);
  EXPECT_EQ(unpool(r.values, r.indices).shape(), (Shape{2, 3, 6, 6}));               // default size
  EXPECT_EQ(unpool(r.values, r.indices, Size2(7, 6)).shape(), (Shape{2, 3, 7, 6}));  // the odd input's size
  EXPECT_NE(error_of([&] { unpool.forward(r.values); }).find("unpool(x, indices"), std::string::npos);
  MaxPool2d padded(3, 2, 1);
  EXPECT_EQ(padded(x).shape(), (Shape{2, 3, 4, 3}));
}

TEST(PoolModules, UpsampleShapesAndModes) {
  Generator gen(9);
  const Tensor x = Tensor::uniform({1, 2, 3, 5}, gen, -1, 1);
  EXPECT_EQ(Upsample::with_scale(2, 2)->forward(x).shape(), (Shape{1, 2, 6, 10}));
  EXPECT_EQ(Upsample::with_size(Size2(4, 7), Upsample::Mode::Bilinear)->forward(x).shape(), (Shape{1, 2, 4, 7}));
  const Tensor up = Upsample::with_scale(2, 2)->forward(x);
  EXPECT_EQ(vec(up), vec(upsample_nearest2d(x, 6, 10)));
  const Tensor bl = Upsample::with_size(Size2(4, 7), Upsample::Mode::Bilinear, true)->forward(x);
  EXPECT_EQ(vec(bl), vec(upsample_bilinear2d(x, 4, 7, true)));
}

}  // namespace
}  // namespace gn::nn
