// Threading: results are bit-identical across runs, and reductions do not depend on the thread count.
#include "kernels/cpu/threads.h"

#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Tensor;
using Vec = std::vector<double>;

class Threads : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = gn::cpu::num_threads(); }
  void TearDown() override { gn::cpu::set_num_threads(saved_); }
  int saved_ = 1;
};

constexpr std::int64_t kBig = (1 << 20) + 7;  // above the parallel grain, not a multiple of the block

// Everything a forward + backward over large tensors produces, as one vector.
Vec big_workload(DType dt) {
  gn::Generator gen(77);
  Tensor x = Tensor::randn({kBig}, gen, 0, 1, dt).set_requires_grad();
  const Tensor t = Tensor::randn({kBig}, gen, 0, 1, dt);
  Tensor w = Tensor::randn({64, 48}, gen, 0, 0.2, dt).set_requires_grad();
  const Tensor a = Tensor::randn({256, 64}, gen, 0, 1, dt);
  const Tensor m = gn::reshape(gn::slice(x, 0, 1 << 20), {1 << 14, 64});
  const Tensor col = gn::sum(m, 0);   // column sums: (64,)
  const Tensor row = gn::mean(m, 1);  // row means: (16384,)
  const Tensor y = gn::sigmoid(gn::mul(gn::exp(gn::tanh(x)), 0.5));
  const Tensor loss = gn::add(gn::add(gn::mse_loss(y, t), gn::sum(gn::matmul(a, w))),
                              gn::add(gn::mean(gn::mul(col, col)), gn::sum(gn::relu(row))));
  gn::backward(loss);
  Vec out = {loss.item(), gn::sum(x).item()};
  for (const Tensor& r : {col, row, x.grad(), w.grad()})
    for (double v : r.to_vector()) out.push_back(v);
  return out;
}

TEST_F(Threads, SetAndQuery) {
  gn::cpu::set_num_threads(1);
  EXPECT_EQ(gn::cpu::num_threads(), 1);
  gn::cpu::set_num_threads(2);
  EXPECT_EQ(gn::cpu::num_threads(), 2);
  EXPECT_TRUE(gn_test::throws_error_with([] { gn::cpu::set_num_threads(0); }, {"set_num_threads", "0"}));
}

TEST_F(Threads, SameThreadCountIsBitIdenticalAcrossRuns) {
  gn::cpu::set_num_threads(2);
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Vec r1 = big_workload(dt), r2 = big_workload(dt);
    ASSERT_EQ(r1.size(), r2.size());
    EXPECT_TRUE(r1 == r2) << gn::dtype_name(dt) << ": two runs with 2 threads differ";
  }
}

TEST_F(Threads, LargeSumIsIdenticalForOneAndTwoThreads) {
  gn::Generator gen(99);
  for (DType dt : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(gn::dtype_name(dt));
    const Tensor x = Tensor::uniform({kBig}, gen, -1, 1, dt);
    gn::cpu::set_num_threads(1);
    const double s1 = gn::sum(x).item(), m1 = gn::mean(x).item();
    const Vec ax1 = gn::sum(x.slice(0, 1 << 20).reshape({1024, 1024}), 0).to_vector();
    gn::cpu::set_num_threads(2);
    const double s2 = gn::sum(x).item(), m2 = gn::mean(x).item();
    const Vec ax2 = gn::sum(x.slice(0, 1 << 20).reshape({1024, 1024}), 0).to_vector();
    EXPECT_EQ(s1, s2);
    EXPECT_EQ(m1, m2);
    EXPECT_TRUE(ax1 == ax2);
    // And the sum is right: a naive double sum agrees to float rounding of the result.
    double ref = 0;
    for (double v : x.to_vector()) ref += v;
    EXPECT_NEAR(s1, ref, 1e-9 + std::abs(ref) * (dt == DType::Float32 ? 1e-7 : 1e-12));
  }
}

TEST_F(Threads, ElementwiseAndLossesIdenticalForOneAndTwoThreads) {
  gn::Generator gen(5);
  const Tensor a = Tensor::randn({kBig}, gen, 0, 1, DType::Float32);
  const Tensor b = Tensor::randn({kBig}, gen, 0, 1, DType::Float32);
  auto run = [&] {
    Vec out = gn::add(gn::mul(gn::tanh(a), b), gn::div(a, gn::add(gn::abs(b), 1.0))).to_vector();
    out.push_back(gn::mse_loss(a, b).item());
    return out;
  };
  gn::cpu::set_num_threads(1);
  const Vec r1 = run();
  gn::cpu::set_num_threads(2);
  const Vec r2 = run();
  EXPECT_TRUE(r1 == r2);
  // Spot-check values against scalar math.
  const Vec av = a.to_vector(), bv = b.to_vector();
  for (std::int64_t i : {std::int64_t{0}, kBig / 2, kBig - 1}) {
    const float ref = std::tanh(static_cast<float>(av[i])) * static_cast<float>(bv[i]) +
                      static_cast<float>(av[i]) / (std::abs(static_cast<float>(bv[i])) + 1.0f);
    EXPECT_NEAR(r1[i], ref, 1e-5);
  }
}

}  // namespace
