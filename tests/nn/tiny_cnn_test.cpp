// A tiny encoder-decoder CNN (two conv + BN + ReLU + max-pool with indices, then max-unpool + conv) learns a
// synthetic dense task on the CPU: every layer of the image stack, forward and backward, working together.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/adam.h"
#include "nn/batch_norm.h"
#include "nn/conv.h"
#include "nn/pool.h"

namespace gn {
namespace {

// The target is a 3x3 box blur of the input, a dense task a few convolutions can represent.
Tensor box_blur(const Tensor& x) {
  NoGradGuard no_grad;
  const Tensor k = Tensor::full({1, 1, 3, 3}, 1.0 / 9.0, x.dtype());
  return conv2d(x, k, Tensor(), 1, 1);
}

class TinyCnn : public nn::Module {
 public:
  explicit TinyCnn(Generator& gen)
      : conv1_(register_module("conv1", std::make_shared<nn::Conv2d>(1, 8, 3, gen, nn::Conv2dOptions{.padding = 1}))),
        bn1_(register_module("bn1", std::make_shared<nn::BatchNorm2d>(8))),
        conv2_(register_module("conv2", std::make_shared<nn::Conv2d>(8, 8, 3, gen, nn::Conv2dOptions{.padding = 1}))),
        bn2_(register_module("bn2", std::make_shared<nn::BatchNorm2d>(8))),
        pool_(register_module("pool", std::make_shared<nn::MaxPool2d>(2))),
        unpool_(register_module("unpool", std::make_shared<nn::MaxUnpool2d>(2))),
        conv3_(register_module("conv3", std::make_shared<nn::Conv2d>(8, 1, 3, gen, nn::Conv2dOptions{.padding = 1}))) {}

  Tensor forward(const Tensor& x) override {
    const Tensor h1 = relu(bn1_->forward(conv1_->forward(x)));
    const MaxPoolResult pooled = pool_->forward_with_indices(h1);
    const Tensor h2 = relu(bn2_->forward(conv2_->forward(pooled.values)));
    return conv3_->forward(unpool_->unpool(h2, pooled.indices, Size2{x.size(2), x.size(3)}));
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::shared_ptr<nn::Conv2d> conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn2_;
  std::shared_ptr<nn::MaxPool2d> pool_;
  std::shared_ptr<nn::MaxUnpool2d> unpool_;
  std::shared_ptr<nn::Conv2d> conv3_;
};

TEST(TinyCnn, LearnsADenseTask) {
  Generator gen(7);
  TinyCnn net(gen);
  nn::Adam opt(net.parameters(), 1e-2);
  const Tensor x_eval = Tensor::randn({8, 1, 10, 10}, gen);
  const Tensor y_eval = box_blur(x_eval);
  auto eval_loss = [&] {
    NoGradGuard no_grad;
    net.eval();
    const double loss = mse_loss(net.forward(x_eval), y_eval).item();
    net.train();
    return loss;
  };
  const double before = eval_loss();
  for (int step = 0; step < 150; ++step) {
    const Tensor x = Tensor::randn({8, 1, 10, 10}, gen);
    opt.zero_grad();
    backward(mse_loss(net.forward(x), box_blur(x)));
    opt.step();
  }
  const double after = eval_loss();
  RecordProperty("eval_mse_before", std::to_string(before));
  RecordProperty("eval_mse_after", std::to_string(after));
  // A blur of unit-variance noise has variance 1/9 ~ 0.11: predicting 0 everywhere scores that. Learning the
  // task means doing much better, in eval mode (running statistics), on data it never trained on.
  EXPECT_LT(after, 0.25 * before) << "before " << before << ", after " << after;
  EXPECT_LT(after, 0.03);
}

}  // namespace
}  // namespace gn
