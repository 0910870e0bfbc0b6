// Module tree: parameter names and order, aliasing, zero_grad keeping its buffers, registration errors.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/sequential.h"

namespace gn::nn {
namespace {

// A nested model: one own parameter, a Sequential trunk and a Linear head.
class TwoLevel : public Module {
 public:
  explicit TwoLevel(Generator& gen) {
    scale = register_parameter("scale", Tensor::ones({1}));
    auto in = std::make_shared<Linear>(3, 4, gen);
    auto out = std::make_shared<Linear>(4, 2, gen);
    trunk = register_module("trunk", std::make_shared<Sequential>(in, std::make_shared<ReLU>(), out));
    head = register_module("head", std::make_shared<Linear>(2, 1, gen, /*with_bias=*/false));
  }
  Tensor forward(const Tensor& x) override { return head->forward(trunk->forward(x)) * scale; }

  Tensor scale;
  std::shared_ptr<Sequential> trunk;
  std::shared_ptr<Linear> head;
};

// Exposes the protected registration calls so their checks can be tested.
class Open : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  using Module::register_module;
  using Module::register_parameter;
};

TEST(Module, NamedParametersOfNestedSequentialInRegistrationOrder) {
  Generator gen(1);
  TwoLevel m(gen);
  std::vector<std::string> names;
  for (const auto& [name, t] : m.named_parameters()) names.push_back(name);
  const std::vector<std::string> expected = {"scale",          "trunk.0.weight", "trunk.0.bias",
                                             "trunk.2.weight", "trunk.2.bias",   "head.weight"};
  EXPECT_EQ(names, expected);
  // The handles alias the layers' tensors: an optimizer updating them updates the module.
  const auto params = m.parameters();
  ASSERT_EQ(params.size(), 6u);
  auto first = std::dynamic_pointer_cast<Linear>((*m.trunk)[0]);
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(params[0].same(m.scale));
  EXPECT_TRUE(params[1].same(first->weight));
  EXPECT_TRUE(params[2].same(first->bias));
  EXPECT_TRUE(params[5].same(m.head->weight));
  for (const auto& p : params) EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(m.num_parameters(), 1 + (4 * 3 + 4) + (2 * 4 + 2) + 2 * 1);
  EXPECT_EQ(m.trunk->size(), 3u);
}

TEST(Module, SharedSubModuleIsListedOnce) {
  Generator gen(2);
  auto shared = std::make_shared<Linear>(2, 2, gen);
  Sequential seq{shared, std::make_shared<Tanh>(), shared};
  std::vector<std::string> names;
  for (const auto& [name, t] : seq.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias"}));
  EXPECT_EQ(seq.num_parameters(), 6);
}

TEST(Module, ZeroGradKeepsBuffersAndZerosThem) {
  Generator gen(3);
  TwoLevel m(gen);
  const Tensor x = Tensor::randn({5, 3}, gen);
  const Tensor y = Tensor::randn({5, 1}, gen);
  backward(mse_loss(m(x), y));
  std::vector<void*> buffers;
  std::vector<std::vector<double>> first_grads;
  for (const auto& p : m.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    buffers.push_back(p.grad().raw_data());
    first_grads.push_back(p.grad().to_vector());
  }
  m.zero_grad();
  const auto params = m.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].grad().raw_data(), buffers[i]) << "zero_grad reallocated parameter " << i;
    for (double g : params[i].grad().to_vector()) EXPECT_EQ(g, 0.0);
  }
  // Steady state: the next backward accumulates into the same zeroed buffers and reproduces the gradient.
  backward(mse_loss(m(x), y));
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].grad().raw_data(), buffers[i]) << "backward reallocated parameter " << i;
    EXPECT_EQ(params[i].grad().to_vector(), first_grads[i]);
  }
}

TEST(Module, ZeroGradLeavesUndefinedGradsUndefined) {
  Generator gen(4);
  Linear lin(2, 2, gen);
  lin.zero_grad();
  EXPECT_FALSE(lin.weight.grad().defined());
  EXPECT_FALSE(lin.bias.grad().defined());
}

TEST(Module, SequentialChainsAndEmptyIsIdentity) {
  Generator gen(5);
  auto a = std::make_shared<Linear>(3, 4, gen);
  auto b = std::make_shared<Linear>(4, 2, gen);
  Sequential seq;
  seq.push_back(a);
  seq.push_back(std::make_shared<Tanh>());
  seq.push_back(b);
  const Tensor x = Tensor::randn({2, 3}, gen);
  EXPECT_EQ(seq(x).to_vector(), b->forward(gn::tanh(a->forward(x))).to_vector());
  Sequential empty;
  EXPECT_TRUE(empty.forward(x).same(x));
}

TEST(Module, RegistrationErrorsNameTheProblem) {
  Open m;
  m.register_parameter("w", Tensor::zeros({2}));
  auto message_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message_of([&] { m.register_parameter("w", Tensor::zeros({2})); }).find("'w' is already a parameter"),
            std::string::npos);
  EXPECT_NE(message_of([&] { m.register_parameter("a.b", Tensor::zeros({2})); }).find("'a.b' contains '.'"),
            std::string::npos);
  EXPECT_NE(message_of([&] { m.register_parameter("", Tensor::zeros({2})); }).find("name is empty"), std::string::npos);
  EXPECT_NE(message_of([&] { m.register_parameter("i", Tensor::zeros({2}, DType::Int64)); }).find("int64"),
            std::string::npos);
  EXPECT_NE(message_of([&] { m.register_module("w", std::make_shared<ReLU>()); }).find("'w' is already a parameter"),
            std::string::npos);
  EXPECT_NE(message_of([&] { m.register_module("r", std::shared_ptr<ReLU>()); }).find("'r' is null"),
            std::string::npos);
  Tensor leaf = Tensor::ones({2}).set_requires_grad();
  EXPECT_NE(message_of([&] { m.register_parameter("h", leaf * 2.0); }).find("autograd history"), std::string::npos);
}

TEST(Module, SequentialIndexOutOfRangeThrows) {
  Sequential seq{std::make_shared<ReLU>()};
  EXPECT_NE(seq[0], nullptr);
  try {
    (void)seq[3];
    FAIL() << "expected gn::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 3 out of range (size 1)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(seq.push_back(nullptr), Error);
}

}  // namespace
}  // namespace gn::nn
