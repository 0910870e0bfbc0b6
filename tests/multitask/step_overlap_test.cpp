// The step's data-parallel path with the gradient all-reduce overlapped with the trunk backward
// (nn/grad_reducer.h, begin/hook/finish), over a stand-in communicator of two identical ranks (every sum is
// x + x, so with the scale B_r / B = 1/2 every reduction returns its input exactly): the step must then
// give the single-process step's parameters and weights bit for bit (a gradient packed before it was final
// would come back wrong from the unpack), reduce exactly the right numbers (W's gradient once, by the step,
// under GradNorm; with the rest under equal weighting), and start buckets inside the backward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "model_fixture.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/sgd.h"

namespace gn {
namespace {

using namespace testing_support;

void twice(Tensor& t) {
  GN_DISPATCH_FLOAT(t.dtype(), "twice", [&] {
    scalar_t* p = t.data<scalar_t>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] + p[i];
  });
}

class MirrorComm final : public Communicator {
 public:
  std::int64_t started = 0;        // elements passed to start_all_reduce_sum
  std::function<void()> on_start;  // a probe run at every start

  std::string name() const override { return "mirror"; }
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int local_rank() const override { return 0; }
  void all_reduce_sum(Tensor& t) override { twice(t); }
  void all_reduce_sum(std::span<double> values) override {
    for (double& v : values) v = v + v;
  }
  CommHandle start_all_reduce_sum(Tensor& t) override {
    started += t.numel();
    if (on_start) on_start();
    return CommHandle(std::make_unique<Pending>(t));
  }
  void broadcast(Tensor&, int) override {}
  void barrier() override {}

 private:
  struct Pending final : CommHandle::Impl {
    explicit Pending(Tensor t) : t_(std::move(t)) {}
    void wait() override { twice(t_); }
    Tensor t_;
  };
};

double max_abs_diff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double m = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto va = a[k].to_vector(), vb = b[k].to_vector();
    for (std::size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  }
  return m;
}

class StepOverlap : public ::testing::TestWithParam<const char*> {};

TEST_P(StepOverlap, TwoMirroredRanksGiveTheSingleProcessStepBitForBit) {
  const std::string method = GetParam();
  const TinyProblem p;  // T = 3; |theta| = 124, |W| = 30
  auto single = tiny_model(p, 11), ranked = tiny_model(p, 11);
  auto wa = multitask::make_weighting(method, p.tasks, {}), wb = multitask::make_weighting(method, p.tasks, {});
  nn::SGD opt_a(single->parameters(), 0.02, 0.9), opt_b(ranked->parameters(), 0.02, 0.9);
  MirrorComm comm;
  multitask::MultitaskStep alone(*single, *wa, opt_a), mirrored(*ranked, *wb, opt_b, &comm, 64);  // 64-byte buckets
  ASSERT_EQ(mirrored.world_size(), 2);
  // On the first step no gradient exists before the backward: a start that sees the trunk's first weight
  // without one happened inside the backward (or before it: the stacked W gradients).
  const Tensor first = ranked->trunk_below().parameters()[0];
  int starts_before_first_grad = 0;
  comm.on_start = [&] { starts_before_first_grad += first.grad().defined() ? 0 : 1; };
  const bool gradnorm = method == "gradnorm";
  const std::int64_t per_step = gradnorm ? 3 * 30 + (124 - 30) : 124;  // T |W| stacked + the rest, or all
  for (int t = 0; t < 3; ++t) {
    const TinyBatch batch = tiny_batch(p, 40 + t);
    const auto sa = alone.step(batch.x, batch.y), sb = mirrored.step(batch.x, batch.y);
    EXPECT_EQ(comm.started, per_step * (t + 1)) << "step " << t;
    EXPECT_EQ(max_abs_diff(single->parameters(), ranked->parameters()), 0.0) << "step " << t;
    EXPECT_EQ(sa.next_weights, sb.next_weights) << "step " << t;
    EXPECT_EQ(sa.losses, sb.losses) << "step " << t;
    if (t == 0) {
      EXPECT_GT(starts_before_first_grad, gradnorm ? 2 : 0) << "a network bucket started in the backward";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, StepOverlap, ::testing::Values("gradnorm", "equal"));

}  // namespace
}  // namespace gn
