// Module buffers, train/eval mode, and state_dict round trips for every module type in nn/: save, load into
// a module built from another seed, then the same forward output and the same next training step, bitwise.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "error_of.h"
#include "nn/sgd.h"
#include "state_test_support.h"
#include "tests/cuda_test_support.h"

namespace gn::nn {
namespace {

using testing::expect_same_state;
using testing::names_of;
using testing::Nested;
using testing::RunningCenter;
using testing::train_step;

using Factory = std::function<std::shared_ptr<Module>(Generator&)>;

// Trains `a` (seed 1) for 2 steps so its state is not the initial one, loads its state_dict into `b` (seed 2),
// then checks b matches a in forward output and in one more training step (parameters and buffers).
void expect_round_trip(const Factory& make, std::int64_t in_features, DType dtype = DType::Float32) {
  Generator ga(1), gb(2), gx(3);
  auto a = make(ga), b = make(gb);
  const Tensor x = Tensor::randn({5, in_features}, gx, 0, 1, dtype);
  std::unique_ptr<SGD> opt_a, opt_b;
  if (!a->parameters().empty()) {
    opt_a = std::make_unique<SGD>(a->parameters(), 0.1, 0.9);
    opt_b = std::make_unique<SGD>(b->parameters(), 0.1, 0.9);  // built before the load: aliasing must hold
    for (int s = 0; s < 2; ++s) train_step(*a, *opt_a, x);
    EXPECT_NE(a->forward(x).to_vector(), b->forward(x).to_vector()) << "the seeds should give different modules";
  }
  b->load_state_dict(a->state_dict());
  expect_same_state(b->state_dict(), a->state_dict());
  EXPECT_EQ(b->forward(x).to_vector(), a->forward(x).to_vector());
  if (!opt_a) return;
  // Fresh momentum on both sides, so only the module state decides the step.
  opt_a = std::make_unique<SGD>(a->parameters(), 0.1, 0.9);
  opt_b = std::make_unique<SGD>(b->parameters(), 0.1, 0.9);
  train_step(*a, *opt_a, x);
  train_step(*b, *opt_b, x);
  expect_same_state(b->state_dict(), a->state_dict());
}

TEST(ModuleState, LinearRoundTrip) {
  expect_round_trip([](Generator& g) { return std::make_shared<Linear>(3, 4, g); }, 3);
}

TEST(ModuleState, LinearWithoutBiasFloat64RoundTrip) {
  expect_round_trip([](Generator& g) { return std::make_shared<Linear>(3, 2, g, false, DType::Float64); }, 3,
                    DType::Float64);
}

TEST(ModuleState, SequentialRoundTrip) {
  expect_round_trip(
      [](Generator& g) {
        auto l0 = std::make_shared<Linear>(3, 4, g);
        auto l1 = std::make_shared<Linear>(4, 4, g);
        auto l2 = std::make_shared<Linear>(4, 2, g);
        return std::make_shared<Sequential>(l0, std::make_shared<ReLU>(), l1, std::make_shared<Tanh>(), l2,
                                            std::make_shared<Sigmoid>());
      },
      3);
}

TEST(ModuleState, ActivationsHaveEmptyStateAndRoundTrip) {
  for (const Factory& make : std::vector<Factory>{[](Generator&) { return std::make_shared<ReLU>(); },
                                                  [](Generator&) { return std::make_shared<Tanh>(); },
                                                  [](Generator&) { return std::make_shared<Sigmoid>(); }}) {
    Generator g(1);
    EXPECT_TRUE(make(g)->state_dict().empty());
    expect_round_trip(make, 3);
    EXPECT_NE(error_of([&] {
                make(g)->load_state_dict({{"weight", Tensor::zeros({1})}});
              }).find("unexpected entry 'weight'"),
              std::string::npos);
  }
}

TEST(ModuleState, CustomModuleWithBuffersRoundTrip) {
  expect_round_trip([](Generator& g) { return std::make_shared<RunningCenter>(3, g); }, 3);
}

TEST(ModuleState, NestedModuleWithBuffersRoundTrip) {
  expect_round_trip([](Generator& g) { return std::make_shared<Nested>(g); }, 3);
}

TEST(ModuleState, BuffersAreNamedLikeParametersAndStateDictOrdersThemPerModule) {
  Generator g(4);
  Nested m(g);
  EXPECT_EQ(names_of(m.named_buffers()), (std::vector<std::string>{"offset", "body.2.running_mean", "body.2.batches"}));
  EXPECT_EQ(names_of(m.named_parameters()),
            (std::vector<std::string>{"body.0.weight", "body.0.bias", "body.2.scale", "body.3.weight", "body.3.bias"}));
  EXPECT_EQ(names_of(m.state_dict()),
            (std::vector<std::string>{"offset", "body.0.weight", "body.0.bias", "body.2.scale", "body.2.running_mean",
                                      "body.2.batches", "body.3.weight", "body.3.bias"}));
  // Buffers are live handles, not trained and not counted as parameters.
  auto center = std::dynamic_pointer_cast<RunningCenter>((*m.body)[2]);
  ASSERT_NE(center, nullptr);
  EXPECT_TRUE(m.named_buffers()[1].second.same(center->running_mean));
  EXPECT_FALSE(center->running_mean.requires_grad());
  EXPECT_EQ(m.num_parameters(), (4 * 3 + 4) + 4 + (2 * 4 + 2));
}

TEST(ModuleState, StateDictHoldsClonesThatLaterTrainingDoesNotChange) {
  Generator g(5);
  Nested m(g);
  const StateDict saved = m.state_dict();
  const auto w0 = saved[1].second.to_vector();
  EXPECT_NE(saved[1].second.raw_data(), m.body->named_parameters()[0].second.raw_data());
  EXPECT_FALSE(saved[1].second.requires_grad());
  SGD opt(m.parameters(), 0.5);
  train_step(m, opt, Tensor::randn({4, 3}, g));
  EXPECT_EQ(saved[1].second.to_vector(), w0);
  EXPECT_NE(m.state_dict()[1].second.to_vector(), w0);
  EXPECT_EQ(m.state_dict()[5].second.item(), 1.0);  // body.2.batches counted the step
  EXPECT_EQ(saved[5].second.item(), 0.0);
}

TEST(ModuleState, LoadCopiesInPlaceSoHandlesKeepTheirStorage) {
  Generator ga(6), gb(7);
  Linear a(3, 2, ga), b(3, 2, gb);
  const void* w = b.weight.raw_data();
  const Tensor alias = b.parameters()[0];
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.weight.raw_data(), w);
  EXPECT_EQ(alias.to_vector(), a.weight.to_vector());
  EXPECT_TRUE(b.weight.requires_grad());
  b.load_state_dict(b.named_parameters());  // loading a module's own live tensors is a harmless no-op
  EXPECT_EQ(b.weight.to_vector(), a.weight.to_vector());
}

TEST(ModuleState, TrainAndEvalPropagateToNestedChildren) {
  Generator g(8);
  Nested m(g);
  std::vector<std::shared_ptr<Module>> all = {m.body};
  for (std::size_t i = 0; i < m.body->size(); ++i) all.push_back((*m.body)[i]);
  EXPECT_TRUE(m.is_training());
  for (const auto& c : all) EXPECT_TRUE(c->is_training());
  m.eval();
  EXPECT_FALSE(m.is_training());
  for (const auto& c : all) EXPECT_FALSE(c->is_training());
  m.train();
  for (const auto& c : all) EXPECT_TRUE(c->is_training());
  m.body->train(false);  // a subtree only: the parent keeps its mode
  EXPECT_TRUE(m.is_training());
  EXPECT_FALSE((*m.body)[2]->is_training());
}

TEST(ModuleState, EvalModeUsesRunningStatisticsAndLeavesBuffersAlone) {
  Generator g(9);
  RunningCenter c(2, g);
  const Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 6}, {2, 2});
  c(x);  // batch mean (2, 4): running_mean = 0.1 * (2, 4)
  EXPECT_EQ(c.running_mean.to_vector(), (std::vector<double>{0.2f, 0.4f}));
  c.eval();
  const auto s = c.scale.to_vector();
  const auto y = c(x).to_vector();
  EXPECT_EQ(y[0], static_cast<double>((1.0f - 0.2f) * static_cast<float>(s[0])));
  EXPECT_EQ(c.running_mean.to_vector(), (std::vector<double>{0.2f, 0.4f}));
  EXPECT_EQ(c.batches.item(), 1.0);
}

TEST(ModuleState, RegisterBufferChecksItsArguments) {
  class Open : public Module {
   public:
    Tensor forward(const Tensor& x) override { return x; }
    using Module::register_buffer;
    using Module::register_parameter;
  } m;
  m.register_parameter("w", Tensor::zeros({2}));
  m.register_buffer("count", Tensor::zeros({}, DType::Int64));  // any dtype
  EXPECT_NE(error_of([&] { m.register_buffer("w", Tensor::zeros({2})); }).find("'w' is already a parameter"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_parameter("count", Tensor::zeros({2})); }).find("'count' is already a buffer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_buffer("u", Tensor()); }).find("buffer 'u' is an undefined tensor"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              m.register_buffer("g", Tensor::ones({2}).set_requires_grad());
            }).find("buffer 'g' of shape (2,) requires grad"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_buffer("a.b", Tensor::zeros({2})); }).find("contains '.'"), std::string::npos);
}

// Loading works across devices: a CPU checkpoint into a CUDA module and back.
TEST(ModuleState, LoadsAcrossDevices) {
  GN_SKIP_WITHOUT_CUDA();
  Generator ga(10), gb(11);
  Linear cpu(3, 2, ga), gpu(3, 2, gb, true, DType::Float32, cuda_device());
  gpu.load_state_dict(cpu.state_dict());
  EXPECT_TRUE(gpu.weight.device().is_cuda());
  EXPECT_TRUE(gpu.state_dict()[0].second.device().is_cuda());
  Linear back(3, 2, gb);
  back.load_state_dict(gpu.state_dict());
  expect_same_state(back.state_dict(), cpu.state_dict());
}

}  // namespace
}  // namespace gn::nn
