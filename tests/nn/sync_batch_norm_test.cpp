// Synchronised batch norm (nn/sync_batch_norm.h): N ranks, each with a slice of the batch, normalise and
// backpropagate exactly as one process with the whole batch. The ranks are threads with an in-process
// communicator that sums in rank order like the MPI one (tests/thread_communicator.h). float64: the ranks
// and the one process differ by summation order (and E[x^2] - mean^2 against the two-pass variance) only,
// ~1e-15 relative; 1e-10 leaves a wide margin, while per-rank statistics are off by percents.
#include "nn/sync_batch_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/batch_norm.h"
#include "nn/sequential.h"
#include "tests/thread_communicator.h"

namespace gn::nn {
namespace {

using testing_support::run_ranks;
using testing_support::ThreadWorld;

std::pair<std::int64_t, std::int64_t> shard(std::int64_t B, int r, int n) {
  const std::int64_t base = B / n, extra = B % n;
  const std::int64_t begin = r * base + std::min<std::int64_t>(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

std::vector<double> rows(const Tensor& t, std::int64_t begin, std::int64_t end) {
  return t.slice(begin, end).to_vector();
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol, const char* what,
                 int rank) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (std::size_t k = 0; k < want.size(); ++k) worst = std::max(worst, std::abs(got[k] - want[k]));
  EXPECT_LT(worst, tol) << what << " on rank " << rank;
}

struct Result {
  Tensor y, gx, gw, gb, running_mean, running_var;
};

// Forward in training mode, then the backward of J_r = (1 / s_r) sum(y_r * R_r): the local objective of the
// data-parallel step's convention (the global J = sum_r s_r J_r = sum(y * R) over the whole batch).
Result run(const Tensor& x_all, const Tensor& R_all, std::int64_t begin, std::int64_t end, Communicator* comm) {
  BatchNorm2d bn(x_all.size(1), 1e-5, 0.1, true, DType::Float64);
  Generator gen(3);
  bn.weight.copy_(Tensor::randn({x_all.size(1)}, gen, 1, 0.3, DType::Float64));
  bn.bias.copy_(Tensor::randn({x_all.size(1)}, gen, 0, 0.3, DType::Float64));
  if (comm != nullptr) {
    EXPECT_EQ(sync_batch_norms(bn, comm), 1);
  }
  Tensor x = x_all.slice(begin, end).clone().set_requires_grad();
  Result r;
  r.y = bn.forward(x);
  const double share = static_cast<double>(end - begin) / static_cast<double>(x_all.size(0));
  backward(r.y, mul(R_all.slice(begin, end).clone(), 1.0 / share));
  r.gx = x.grad();
  r.gw = bn.weight.grad();
  r.gb = bn.bias.grad();
  r.running_mean = bn.running_mean;
  r.running_var = bn.running_var;
  return r;
}

class SyncBatchNorm : public ::testing::TestWithParam<int> {};

TEST_P(SyncBatchNorm, RanksNormaliseAndBackpropagateAsOneBatch) {
  const int N = GetParam();
  const std::int64_t B = 5, C = 3, H = 4, W = 3;  // 2 ranks: 3 + 2 samples, 3 ranks: 2 + 2 + 1
  Generator gen(11);
  const Tensor x = Tensor::randn({B, C, H, W}, gen, 2.0, 1.5, DType::Float64);
  const Tensor R = Tensor::randn({B, C, H, W}, gen, 0, 1, DType::Float64);
  const Result one = run(x, R, 0, B, nullptr);
  std::vector<Result> got(static_cast<std::size_t>(N));
  ThreadWorld world(N);
  run_ranks(world, [&](Communicator& comm) {
    const auto [begin, end] = shard(B, comm.rank(), N);
    got[static_cast<std::size_t>(comm.rank())] = run(x, R, begin, end, &comm);
  });
  constexpr double kTol = 1e-10;
  std::vector<double> gw(C, 0.0), gb(C, 0.0);
  for (int r = 0; r < N; ++r) {
    const auto [begin, end] = shard(B, r, N);
    const double share = static_cast<double>(end - begin) / B;
    const Result& g = got[static_cast<std::size_t>(r)];
    expect_near(g.y.to_vector(), rows(one.y, begin, end), kTol, "y", r);
    // The step scales each rank's gradients by s_r before summing them: s_r dx_r is the global dJ/dx_r.
    expect_near(mul(g.gx, share).to_vector(), rows(one.gx, begin, end), kTol, "s_r dx", r);
    expect_near(g.running_mean.to_vector(), one.running_mean.to_vector(), kTol, "running_mean", r);
    expect_near(g.running_var.to_vector(), one.running_var.to_vector(), kTol, "running_var", r);
    for (std::int64_t c = 0; c < C; ++c) {
      gw[static_cast<std::size_t>(c)] += share * g.gw.to_vector()[static_cast<std::size_t>(c)];
      gb[static_cast<std::size_t>(c)] += share * g.gb.to_vector()[static_cast<std::size_t>(c)];
    }
  }
  expect_near(gw, one.gw.to_vector(), kTol, "sum_r s_r dweight_r", -1);
  expect_near(gb, one.gb.to_vector(), kTol, "sum_r s_r dbias_r", -1);
}

INSTANTIATE_TEST_SUITE_P(Ranks, SyncBatchNorm, ::testing::Values(2, 3));

// Without synchronisation each rank normalises with its own slice's statistics: far from the whole batch's
// (the reason the option exists), and the module says which path it took.
TEST(SyncBatchNormSetup, PerRankStatisticsDifferAndOneProcessIsUntouched) {
  Generator gen(11);
  const Tensor x = Tensor::randn({4, 2, 3, 3}, gen, 2.0, 1.5, DType::Float64);
  BatchNorm2d whole(2, 1e-5, 0.1, true, DType::Float64), half(2, 1e-5, 0.1, true, DType::Float64);
  const std::vector<double> a = rows(whole.forward(x), 0, 2), b = half.forward(x.slice(0, 2).clone()).to_vector();
  double worst = 0;
  for (std::size_t k = 0; k < a.size(); ++k) worst = std::max(worst, std::abs(a[k] - b[k]));
  EXPECT_GT(worst, 1e-2);
  // A communicator of one rank keeps the single-process op: bitwise the plain forward.
  ThreadWorld world(1);
  run_ranks(world, [&](Communicator& comm) {
    BatchNorm2d bn(2, 1e-5, 0.1, true, DType::Float64), plain(2, 1e-5, 0.1, true, DType::Float64);
    bn.set_sync(&comm);
    EXPECT_EQ(bn.forward(x).to_vector(), plain.forward(x).to_vector());
  });
}

TEST(SyncBatchNormSetup, FindsEveryBatchNormInATree) {
  Sequential seq;
  seq.push_back(std::make_shared<BatchNorm2d>(2));
  auto inner = std::make_shared<Sequential>();
  inner->push_back(std::make_shared<BatchNorm2d>(3));
  seq.push_back(inner);
  EXPECT_EQ(sync_batch_norms(seq, nullptr), 2);
}

}  // namespace
}  // namespace gn::nn
