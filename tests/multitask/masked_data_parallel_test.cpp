// Data parallelism with masked losses (multitask/step.h, "Masked losses"; step_masked.cpp): N ranks, each
// stepping on its slice of the batch, reproduce one process on the whole batch when the ranks' slices hold
// very different numbers of valid pixels (depth 0, label -1, all-zero normals). The ranks are threads with
// an in-process communicator that sums in rank order as the MPI one does (tests/thread_communicator.h), so
// the test runs without mpirun. float64 throughout: the N-rank and 1-process numbers differ by summation
// order only (~1e-15 relative), so 1e-10 leaves a wide margin while a wrong share is off by percents.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "dense_fixture.h"
#include "multitask/loss_count.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/sgd.h"
#include "nn/sync_batch_norm.h"
#include "tests/thread_communicator.h"

namespace gn {
namespace {

using namespace testing_support;

// Rows [begin, end) of rank r of n in a batch of B (apps/common/trainer.h: the first B % n ranks one more).
std::pair<std::int64_t, std::int64_t> shard(std::int64_t B, int r, int n) {
  const std::int64_t base = B / n, extra = B % n;
  const std::int64_t begin = r * base + std::min<std::int64_t>(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

// dense_batch, then rows 0 to 2 invalid in every task except at pixel (0, 0) (which the nearest resize to
// the predictions' half resolution samples), and the last row all valid: the first rank's valid counts per
// row are a small fraction of the others'.
TinyBatch uneven_batch(const DenseProblem& p, std::uint64_t seed) {
  TinyBatch b = dense_batch(p, seed);
  const std::int64_t B = p.batch, HW = p.height * p.width;
  std::vector<double> depth = b.y[0].to_vector(), labels = b.y[1].to_vector(), normals = b.y[2].to_vector();
  for (std::int64_t n = 0; n < 3; ++n)
    for (std::int64_t s = 1; s < HW; ++s) {
      depth[n * HW + s] = 0;
      labels[n * HW + s] = -1;
      for (int c = 0; c < 3; ++c) normals[(n * 3 + c) * HW + s] = 0;
    }
  for (std::int64_t s = 0; s < HW; ++s) {
    const std::int64_t n = B - 1;
    if (depth[n * HW + s] == 0) depth[n * HW + s] = 1.5;
    if (labels[n * HW + s] == -1) labels[n * HW + s] = static_cast<double>(s % p.classes);
    double& z = normals[(n * 3 + 2) * HW + s];
    if (z == 0 && normals[(n * 3) * HW + s] == 0 && normals[(n * 3 + 1) * HW + s] == 0) z = 1;
  }
  std::vector<std::int64_t> ilabels(labels.begin(), labels.end());
  b.y[0] = Tensor::from_vector(depth, {B, 1, p.height, p.width}, p.dtype);
  b.y[1] = Tensor::from_labels(ilabels, {B, p.height, p.width});
  b.y[2] = Tensor::from_vector(normals, {B, 3, p.height, p.width}, p.dtype);
  return b;
}

struct Trajectory {
  std::vector<multitask::StepStats> stats;
  std::vector<double> parameters;
};

// `steps` steps of `method` (GradNorm: SGD on the weights, alpha 1.5) with SGD + momentum on the network,
// on the whole batch (comm null) or on this rank's slice of it.
Trajectory train(const DenseProblem& p, const std::string& method, int steps, Communicator* comm) {
  auto model = dense_model(p, 9);
  if (comm != nullptr && p.batch_norm) nn::sync_batch_norms(*model, comm);
  multitask::WeightingConfig cfg;
  cfg.gradnorm.alpha = 1.5;
  cfg.gradnorm.optimizer = "sgd";
  cfg.gradnorm.lr = 0.05;
  auto weighting = multitask::make_weighting(method, model->num_tasks(), cfg);
  nn::SGD opt(model->parameters(), 0.05, 0.9);
  multitask::MultitaskStep stepper(*model, *weighting, opt, comm);
  Trajectory out;
  for (int t = 0; t < steps; ++t) {
    TinyBatch b = uneven_batch(p, 700 + t);
    if (comm != nullptr) {
      const auto [begin, end] = shard(p.batch, comm->rank(), comm->size());
      b.x = b.x.slice(begin, end);
      for (Tensor& y : b.y) y = y.slice(begin, end);
    }
    out.stats.push_back(stepper.step(b.x, b.y));
  }
  for (const Tensor& q : model->parameters())
    for (double v : q.to_vector()) out.parameters.push_back(v);
  return out;
}

struct Case {
  const char* method;
  int ranks;
  bool batch_norm = false;  // with synchronised batch norm in the trunk and the heads
};

class MaskedDataParallel : public ::testing::TestWithParam<Case> {};

TEST_P(MaskedDataParallel, RanksWithUnevenValidCountsReproduceOneProcess) {
  DenseProblem p;
  p.batch = 7;  // 2 ranks: 4 + 3 rows, 3 ranks: 3 + 2 + 2 (uneven slices too)
  p.batch_norm = GetParam().batch_norm;
  if (p.batch_norm) p.head_channels = 3;
  const int N = GetParam().ranks, steps = 3;
  const Trajectory one = train(p, GetParam().method, steps, nullptr);
  std::vector<Trajectory> ranks(static_cast<std::size_t>(N));
  ThreadWorld world(N);
  run_ranks(world, [&](Communicator& comm) {
    ranks[static_cast<std::size_t>(comm.rank())] = train(p, GetParam().method, steps, &comm);
  });
  constexpr double kTol = 1e-10;
  for (int r = 0; r < N; ++r) {
    const Trajectory& got = ranks[static_cast<std::size_t>(r)];
    for (int t = 0; t < steps; ++t) {
      const auto &a = one.stats[static_cast<std::size_t>(t)], &b = got.stats[static_cast<std::size_t>(t)];
      for (std::size_t i = 0; i < a.losses.size(); ++i) {
        EXPECT_NEAR(b.losses[i], a.losses[i], kTol * a.losses[i]) << "rank " << r << " step " << t << " task " << i;
        EXPECT_NEAR(b.next_weights[i], a.next_weights[i], kTol) << "rank " << r << " step " << t << " task " << i;
      }
      ASSERT_EQ(a.weighted_norms.size(), b.weighted_norms.size());
      for (std::size_t i = 0; i < a.weighted_norms.size(); ++i)
        EXPECT_NEAR(b.weighted_norms[i], a.weighted_norms[i], kTol * a.weighted_norms[i])
            << "rank " << r << " step " << t << " task " << i;
    }
    ASSERT_EQ(got.parameters.size(), one.parameters.size());
    double worst = 0;
    for (std::size_t k = 0; k < one.parameters.size(); ++k)
      worst = std::max(worst, std::abs(got.parameters[k] - one.parameters[k]));
    EXPECT_LT(worst, kTol) << "rank " << r << ": parameters after " << steps << " steps";
    EXPECT_EQ(got.parameters, ranks[0].parameters) << "rank " << r << " differs from rank 0 (replicas must agree)";
  }
}

INSTANTIATE_TEST_SUITE_P(MethodsAndWorlds, MaskedDataParallel,
                         ::testing::Values(Case{"gradnorm", 2}, Case{"gradnorm", 3}, Case{"equal", 2},
                                           Case{"uncertainty", 3}, Case{"gradnorm", 2, true},
                                           Case{"gradnorm", 3, true}),
                         [](const auto& info) {
                           return std::string(info.param.method) + "_" + std::to_string(info.param.ranks) + "ranks" +
                                  (info.param.batch_norm ? "_sync_bn" : "");
                         });

// The batch does what the test needs: the first rank's slice has far fewer valid terms per row than the
// last, so the plain rule sum_r (B_r / B) L_i,r (the one for unmasked losses) is clearly wrong, and the
// counted shares c_i,r = count_i,r / count_i give back the whole batch's masked mean.
TEST(MaskedDataParallelSetup, PlainRowShareIsWrongCountedShareIsExact) {
  DenseProblem p;
  p.batch = 7;
  auto model = dense_model(p, 9);
  const TinyBatch b = uneven_batch(p, 700);
  const auto preds = model->forward_all(b.x);
  for (int i = 0; i < model->num_tasks(); ++i) {
    const multitask::TaskLoss& loss = model->task(i).loss;
    ASSERT_TRUE(static_cast<bool>(loss.count)) << loss.name;
    const double whole = loss.fn(preds[i], b.y[i]).to_vector()[0];
    const double total = loss.count(preds[i], b.y[i]);
    double plain = 0, counted = 0;
    std::vector<double> counts;
    for (int r = 0; r < 2; ++r) {
      const auto [begin, end] = shard(p.batch, r, 2);
      const Tensor pr = preds[i].slice(begin, end), yr = b.y[i].slice(begin, end);
      const double local = loss.fn(pr, yr).to_vector()[0], n = loss.count(pr, yr);
      plain += static_cast<double>(end - begin) / p.batch * local;
      counted += n / total * local;
      counts.push_back(n / static_cast<double>(end - begin));
    }
    EXPECT_LT(counts[0] * 2, counts[1]) << loss.name << ": valid terms per row on rank 0 vs rank 1";
    EXPECT_NEAR(counted, whole, 1e-12 * whole) << loss.name;
    EXPECT_GT(std::abs(plain - whole), 1e-3 * whole) << loss.name << ": the plain share would be right anyway";
  }
}

// The counts follow the losses' own validity rules, at the prediction's resolution.
TEST(LossCount, CountsFollowTheMaskRules) {
  const Tensor depth = Tensor::from_vector(std::vector<double>{0, 1.5, -1, NAN, 2, 0}, {1, 1, 2, 3}, DType::Float32);
  EXPECT_EQ(multitask::count_positive(depth), 2);
  const Tensor labels = Tensor::from_labels(std::vector<std::int64_t>{-1, 0, 3, -1}, {1, 2, 2});
  EXPECT_EQ(multitask::count_not_ignored(labels, -1), 2);
  // (1, 3, 1, 3): pixel 0 zero, pixel 1 (0, 0, 1), pixel 2 NaN in x
  const Tensor normals =
      Tensor::from_vector(std::vector<double>{0, 0, NAN, 0, 0, 0, 0, 1, 0}, {1, 3, 1, 3}, DType::Float64);
  EXPECT_EQ(multitask::count_nonzero_vectors(normals), 1);
  const multitask::TaskLoss seg = multitask::TaskLoss::segmentation(4);
  const Tensor logits = Tensor::zeros({1, 4, 1, 1});
  EXPECT_EQ(seg.count(logits, labels), 0);  // nearest resize to 1x1 keeps label (0, 0): -1
  EXPECT_FALSE(static_cast<bool>(multitask::TaskLoss::mse().count));
}

}  // namespace
}  // namespace gn
