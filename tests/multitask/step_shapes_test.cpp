// The step for a shared representation z of shape (B, C, H, W), against the naive oracle for every method:
// W a test layer (a Linear whose output is viewed as C channels of 2x2 pixels), and W an nn::Conv2d.
#include <gtest/gtest.h>

#include <string>

#include "core/ops.h"
#include "model_fixture.h"
#include "nn/conv.h"
#include "oracle_driver.h"

namespace gn {
namespace {

using namespace testing_support;

constexpr std::int64_t kC = 3, kH = 2, kW = 2;

// z = reshape(h W^T + b, (B, C, H, W)). Its per-task gradients and input gradient are Linear's, on the
// deltas seen as (B, T*C*H*W): the layout a stacked-along-channels (B, T*C, H, W) tensor has in memory.
class ChannelsLinear : public nn::SharedLayer {
 public:
  ChannelsLinear(std::int64_t in, Generator& gen)
      : linear_(register_module("linear", std::make_shared<nn::Linear>(in, kC * kH * kW, gen, true, DType::Float64))) {}
  Tensor forward(const Tensor& h) override { return reshape(linear_->forward(h), {h.size(0), kC, kH, kW}); }
  void stacked_parameter_grads(const Tensor& h, const Tensor& deltas, int T, std::span<Tensor> grads) override {
    EXPECT_EQ(deltas.shape(), (Shape{h.size(0), T * kC, kH, kW})) << "the deltas are stacked along channels";
    linear_->stacked_parameter_grads(h, reshape(deltas, {h.size(0), -1}), T, grads);
  }
  void input_grad(const Tensor& delta, Tensor& grad_h) override {
    linear_->input_grad(reshape(delta, {delta.size(0), -1}), grad_h);
  }

 private:
  std::shared_ptr<nn::Linear> linear_;
};

std::shared_ptr<multitask::MultitaskModel> image_model(std::uint64_t seed) {
  const TinyProblem p;
  Generator gen(seed);
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(std::make_shared<nn::Linear>(p.in, p.hidden, gen, true, DType::Float64));
  trunk->push_back(std::make_shared<nn::Tanh>());
  auto shared = std::make_shared<ChannelsLinear>(p.hidden, gen);
  std::vector<std::shared_ptr<nn::Module>> heads;
  for (int i = 0; i < p.tasks; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::Tanh>());  // elementwise on (B, C, H, W): the heads see images
    heads.push_back(head);
  }
  return std::make_shared<multitask::MultitaskModel>(trunk, shared, heads);
}

class ImageShapedZ : public ::testing::TestWithParam<const char*> {};

TEST_P(ImageShapedZ, FastStepEqualsNaive) {
  const TinyProblem p;
  expect_fast_equals_naive(
      image_model,
      [&](int t) {
        Generator gen(300 + t);
        TinyBatch b{Tensor::randn({p.batch, p.in}, gen, 0, 1, DType::Float64), {}};
        for (int i = 0; i < p.tasks; ++i)
          b.y.push_back(Tensor::randn({p.batch, kC, kH, kW}, gen, 0, 1.0 + i, DType::Float64));
        return b;
      },
      GetParam(), 4);
}

// A convolutional W (nn::Conv2d): all T per-task filter gradients from ONE backward-filter call over the T
// deltas stacked along channels. Trunk conv + ReLU, W a 3x3 conv with stride 2, heads 1x1 convs.
std::shared_ptr<multitask::MultitaskModel> conv_model(std::uint64_t seed) {
  Generator gen(seed);
  auto trunk = std::make_shared<nn::Sequential>();
  trunk->push_back(std::make_shared<nn::Conv2d>(2, 3, 3, gen, nn::Conv2dOptions{.padding = 1}, DType::Float64));
  trunk->push_back(std::make_shared<nn::Tanh>());
  auto shared =
      std::make_shared<nn::Conv2d>(3, 4, 3, gen, nn::Conv2dOptions{.stride = 2, .padding = 1}, DType::Float64);
  std::vector<std::shared_ptr<nn::Module>> heads;
  for (int i = 0; i < 3; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::ReLU>());
    head->push_back(std::make_shared<nn::Conv2d>(4, 2, 1, gen, nn::Conv2dOptions{}, DType::Float64));
    heads.push_back(head);
  }
  return std::make_shared<multitask::MultitaskModel>(trunk, shared, heads);
}

class ConvW : public ::testing::TestWithParam<const char*> {};

TEST_P(ConvW, FastStepEqualsNaive) {
  expect_fast_equals_naive(
      conv_model,
      [](int t) {
        Generator gen(400 + t);
        TinyBatch b{Tensor::randn({2, 2, 7, 5}, gen, 0, 1, DType::Float64), {}};  // odd sizes, stride 2: 4x3 out
        for (int i = 0; i < 3; ++i) b.y.push_back(Tensor::randn({2, 2, 4, 3}, gen, 0, 1.0 + 3 * i, DType::Float64));
        return b;
      },
      GetParam(), 3);
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, ConvW, ::testing::Values("equal", "static", "gradnorm", "uncertainty"),
                         [](const auto& info) { return std::string(info.param); });

INSTANTIATE_TEST_SUITE_P(EveryMethod, ImageShapedZ, ::testing::Values("equal", "static", "gradnorm", "uncertainty"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace gn
