// Conv2d and ConvTranspose2d: shapes, PyTorch's default initialisation bounds, state_dict round trip, and
// Conv2d as a SharedLayer: its stacked per-task parameter gradients (one backward-filter over T*C_out
// channels) and its input gradient against autograd through gn::conv2d, for T = 3.
#include "nn/conv.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "error_of.h"

namespace gn::nn {
namespace {

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << what << " element " << i;
}

void expect_within_bound(const Tensor& t, double bound) {
  double max_abs = 0;
  for (double v : t.to_vector()) {
    EXPECT_LE(std::abs(v), bound * (1 + FLT_EPSILON));
    max_abs = std::max(max_abs, std::abs(v));
  }
  // The draws fill the interval (>= 8 samples, fixed seed): pins the bound from below too.
  EXPECT_GT(max_abs, 0.6 * bound);
}

TEST(Conv2d, ShapesFollowPyTorch) {
  Generator gen(1);
  Conv2d conv(3, 8, 3, gen, {.stride = 2, .padding = 1});
  EXPECT_EQ(conv.weight.shape(), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(conv.bias.shape(), (Shape{8}));
  EXPECT_EQ(conv(Tensor::zeros({2, 3, 9, 7})).shape(), (Shape{2, 8, 5, 4}));
  Conv2d rect(2, 4, {3, 1}, gen, {.stride = {1, 2}, .padding = {0, 1}, .dilation = {2, 1}, .bias = false});
  EXPECT_FALSE(rect.bias.defined());
  EXPECT_EQ(rect.parameters().size(), 1u);
  // H: 10 - 2*2 = 6; W: floor((7 + 2 - 1) / 2) + 1 = 5.
  EXPECT_EQ(rect(Tensor::zeros({1, 2, 10, 7})).shape(), (Shape{1, 4, 6, 5}));
}

TEST(ConvTranspose2d, ShapesFollowPyTorch) {
  Generator gen(2);
  ConvTranspose2d up(8, 3, 3, gen, {.stride = 2, .padding = 1, .output_padding = 1});
  EXPECT_EQ(up.weight.shape(), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(up.bias.shape(), (Shape{3}));
  // (5 - 1) * 2 - 2 + 2 + 1 + 1 = 10: undoes a stride-2 conv of a 10x10 image.
  EXPECT_EQ(up(Tensor::zeros({2, 8, 5, 4})).shape(), (Shape{2, 3, 10, 8}));
}

TEST(Conv2d, DefaultInitIsPyTorchsUniformOneOverSqrtFanIn) {
  Generator gen(3);
  Conv2d conv(4, 16, 3, gen);
  const double bound = 1.0 / std::sqrt(4.0 * 9.0);  // fan_in = C_in kH kW
  expect_within_bound(conv.weight, bound);
  expect_within_bound(conv.bias, bound);
  Generator again(3);
  Conv2d twin(4, 16, 3, again);
  EXPECT_EQ(twin.weight.to_vector(), conv.weight.to_vector());
  EXPECT_EQ(twin.bias.to_vector(), conv.bias.to_vector());
}

TEST(ConvTranspose2d, DefaultInitUsesTheWeightsDim1AsFanInAsPyTorchDoes) {
  Generator gen(4);
  ConvTranspose2d up(4, 16, {3, 2}, gen);
  const double bound = 1.0 / std::sqrt(16.0 * 6.0);  // weight (C_in, C_out, kH, kW): fan_in = C_out kH kW
  expect_within_bound(up.weight, bound);
  expect_within_bound(up.bias, bound);
}

TEST(Conv2d, StateDictRoundTrip) {
  Generator gen(5), other(6);
  Conv2d a(3, 5, 3, gen, {.padding = 1}, DType::Float64), b(3, 5, 3, other, {.padding = 1}, DType::Float64);
  const Tensor x = Tensor::randn({2, 3, 6, 5}, gen, 0, 1, DType::Float64);
  EXPECT_NE(a(x).to_vector(), b(x).to_vector());
  const StateDict state = a.state_dict();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "weight");
  EXPECT_EQ(state[1].first, "bias");
  const Tensor b_weight = b.weight;  // loading copies in place: aliases see the new values
  b.load_state_dict(state);
  EXPECT_EQ(b.weight.to_vector(), a.weight.to_vector());
  EXPECT_EQ(b_weight.to_vector(), a.weight.to_vector());
  EXPECT_EQ(b(x).to_vector(), a(x).to_vector());
  ConvTranspose2d ua(3, 2, 2, gen, {.stride = 2}), ub(3, 2, 2, other, {.stride = 2});
  ub.load_state_dict(ua.state_dict());
  EXPECT_EQ(ub.weight.to_vector(), ua.weight.to_vector());
  EXPECT_EQ(ub.bias.to_vector(), ua.bias.to_vector());
  // A Conv2d state does not load into a layer of another shape.
  Conv2d wrong(3, 4, 3, other);
  EXPECT_NE(error_of([&] { wrong.load_state_dict(state); }), "no error");
}

// grads from stacked_parameter_grads against T separate autograd backwards through conv2d, and input_grad
// against autograd's gradient at h.
void check_shared_layer(Conv2dOptions options, std::int64_t H, std::int64_t W) {
  constexpr int T = 3;
  constexpr std::int64_t B = 3, C_in = 2, C_out = 4;
  Generator gen(7);
  Conv2d conv(C_in, C_out, 3, gen, options, DType::Float64);
  Tensor h = Tensor::randn({B, C_in, H, W}, gen, 0, 1, DType::Float64).set_requires_grad();
  const Tensor z = conv(h);
  const std::int64_t Ho = z.size(2), Wo = z.size(3);
  const Tensor deltas = Tensor::randn({B, T * C_out, Ho, Wo}, gen, 0, 1, DType::Float64);
  std::vector<Tensor> grads{Tensor::full({T, C_out, C_in, 3, 3}, 7.0, DType::Float64)};
  if (options.bias) grads.push_back(Tensor::full({T, C_out}, 7.0, DType::Float64));
  conv.stacked_parameter_grads(h.detach(), deltas, T, grads);

  const auto dv = deltas.to_vector();
  const std::int64_t per = C_out * Ho * Wo;
  const auto gw = grads[0].to_vector();
  for (int t = 0; t < T; ++t) {
    std::vector<double> delta_t;  // task t's channels of every sample
    for (std::int64_t n = 0; n < B; ++n)
      delta_t.insert(delta_t.end(), dv.begin() + (n * T + t) * per, dv.begin() + (n * T + t + 1) * per);
    const Tensor seed = Tensor::from_vector(delta_t, z.shape(), DType::Float64);
    conv.zero_grad();
    h.set_grad(Tensor());
    backward(conv(h), seed);
    const std::int64_t wn = conv.weight.numel();
    expect_close(std::vector<double>(gw.begin() + t * wn, gw.begin() + (t + 1) * wn), conv.weight.grad().to_vector(),
                 1e-12, "weight grad of task " + std::to_string(t));
    if (options.bias) {
      const auto gb = grads[1].to_vector();
      expect_close(std::vector<double>(gb.begin() + t * C_out, gb.begin() + (t + 1) * C_out),
                   conv.bias.grad().to_vector(), 1e-12, "bias grad of task " + std::to_string(t));
    }
    Tensor grad_h = Tensor::full(h.shape(), 7.0, DType::Float64);
    conv.input_grad(seed, grad_h);
    expect_close(grad_h.to_vector(), h.grad().to_vector(), 1e-12, "input grad of task " + std::to_string(t));
  }
}

TEST(Conv2d, SharedLayerGradientsMatchAutogradForThreeTasks) {
  check_shared_layer({.padding = 1}, 7, 5);
  check_shared_layer({.stride = 2, .padding = 0, .dilation = 1, .bias = false}, 9, 8);  // even W: stride ambiguity
  check_shared_layer({.stride = {2, 1}, .padding = {1, 2}, .dilation = 2}, 11, 6);
}

TEST(Conv2d, BadArgumentsNameTheLayerAndShapes) {
  Generator gen(8);
  EXPECT_NE(error_of([&] { Conv2d(0, 3, 3, gen); }).find("Conv2d(0, 3"), std::string::npos);
  EXPECT_NE(error_of([&] { Conv2d(2, 3, {3, 0}, gen); }).find("kernel (3, 0)"), std::string::npos);
  EXPECT_NE(error_of([&] { ConvTranspose2d(2, 3, 3, gen, {}, DType::Int64); }).find("int64"), std::string::npos);
  Conv2d conv(2, 3, 3, gen, {.padding = 1}, DType::Float64);
  const std::string wrong_in = error_of([&] { conv(Tensor::zeros({1, 4, 5, 5}, DType::Float64)); });
  EXPECT_NE(wrong_in.find("Conv2d(2, 3)"), std::string::npos) << wrong_in;
  EXPECT_NE(wrong_in.find("(1, 4, 5, 5)"), std::string::npos) << wrong_in;
  const Tensor h = Tensor::zeros({2, 2, 5, 5}, DType::Float64);
  std::vector<Tensor> grads{Tensor::zeros({2, 3, 2, 3, 3}, DType::Float64), Tensor::zeros({2, 3}, DType::Float64)};
  const std::string wrong_deltas = error_of([&] {
    conv.stacked_parameter_grads(h, Tensor::zeros({2, 5, 5, 5}, DType::Float64), 2, grads);
  });
  EXPECT_NE(wrong_deltas.find("(2, 5, 5, 5)"), std::string::npos) << wrong_deltas;
  EXPECT_NE(wrong_deltas.find("(2, 6, 5, 5)"), std::string::npos) << wrong_deltas;
  std::vector<Tensor> short_grads{grads[0]};
  EXPECT_NE(error_of([&] {
              conv.stacked_parameter_grads(h, Tensor::zeros({2, 6, 5, 5}, DType::Float64), 2, short_grads);
            }).find("output buffers"),
            std::string::npos);
  Tensor grad_h = Tensor::zeros({2, 2, 5, 5}, DType::Float64);
  EXPECT_NE(error_of([&] {
              conv.input_grad(Tensor::zeros({2, 3, 4, 5}, DType::Float64), grad_h);
            }).find("(2, 3, 4, 5)"),
            std::string::npos);
}

}  // namespace
}  // namespace gn::nn
