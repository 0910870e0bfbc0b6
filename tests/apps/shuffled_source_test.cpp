// ShuffledSource: the in-memory BatchSource that reshuffles its dataset on the device every epoch.
#include "apps/common/shuffled_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "core/rng.h"
#include "tests/apps/app_test_support.h"

namespace gn::app {
namespace {

using testing::numbered_dataset;
using testing::sample_of;

// The samples of one batch, read from x; checks every target row belongs to the same sample.
std::vector<std::int64_t> samples_of(const Batch& b) {
  const std::vector<double> x = b.x.to_vector();
  const std::int64_t rows = b.x.shape()[0];
  std::vector<std::int64_t> out;
  for (std::int64_t r = 0; r < rows; ++r) out.push_back(sample_of(x, 3, r));
  for (std::size_t i = 0; i < b.targets.size(); ++i) {
    const std::vector<double> t = b.targets[i].to_vector();
    for (std::int64_t r = 0; r < rows; ++r)
      EXPECT_EQ(sample_of(t, 2, r, 1000.0 * static_cast<double>(i + 1)), out[static_cast<std::size_t>(r)])
          << "task " << i << " row " << r << " is not the row of the same sample as x";
  }
  return out;
}

TEST(ShuffledSource, EverySampleExactlyOncePerEpoch) {
  ShuffledSource source(numbered_dataset(12, 2), 4, 7);
  EXPECT_EQ(source.epoch(), 0);
  std::vector<std::int64_t> previous;
  for (int epoch = 1; epoch <= 3; ++epoch) {
    std::vector<std::int64_t> seen;
    for (int b = 0; b < 3; ++b) {
      const Batch batch = source.next();
      EXPECT_EQ(batch.x.shape()[0], 4);
      for (auto s : samples_of(batch)) seen.push_back(s);
    }
    EXPECT_EQ(source.epoch(), epoch);
    std::vector<std::int64_t> sorted = seen;
    std::ranges::sort(sorted);
    std::vector<std::int64_t> all(12);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(sorted, all) << "epoch " << epoch;
    EXPECT_NE(seen, all) << "epoch " << epoch << " was not shuffled";
    EXPECT_NE(seen, previous) << "epoch " << epoch << " repeated the previous order";
    previous = seen;
  }
}

TEST(ShuffledSource, IncompleteTailIsSkippedAndANewEpochBegins) {
  ShuffledSource source(numbered_dataset(10, 1), 3, 5);
  std::set<std::int64_t> seen;
  for (int b = 0; b < 3; ++b)
    for (auto s : samples_of(source.next())) EXPECT_TRUE(seen.insert(s).second) << "sample " << s << " twice";
  EXPECT_EQ(source.epoch(), 1);
  source.next();  // only one sample left: a new epoch
  EXPECT_EQ(source.epoch(), 2);
}

TEST(ShuffledSource, BatchIsAContiguousSliceOfTheShuffledData) {
  ShuffledSource source(numbered_dataset(12, 2), 4, 11);
  for (int epoch = 0; epoch < 2; ++epoch)
    for (std::int64_t k = 0; k < 3; ++k) {
      const Batch b = source.next();
      const std::vector<std::int64_t> order = source.order();
      std::vector<std::int64_t> expected(order.begin() + k * 4, order.begin() + (k + 1) * 4);
      EXPECT_EQ(samples_of(b), expected) << "epoch " << epoch << " batch " << k;
    }
}

TEST(ShuffledSource, OrderIsSeededFisherYatesOverThePreviousEpochsOrder) {
  // The toy's results depend on these exact draws: one next_u64() per position, k = N-1 down to 1.
  const std::int64_t N = 9;
  ShuffledSource source(numbered_dataset(N, 1), 3, 42);
  Generator gen(42);
  std::vector<std::int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (std::int64_t k = N - 1; k > 0; --k) std::swap(order[k], order[gen.next_u64() % (k + 1)]);
    for (int b = 0; b < 3; ++b) source.next();
    EXPECT_EQ(source.order(), order) << "epoch " << epoch;
  }
}

TEST(ShuffledSource, SameSeedSameOrderOtherSeedOtherOrder) {
  auto draw = [](std::uint64_t seed) {
    ShuffledSource source(numbered_dataset(20, 1), 5, seed);
    std::vector<std::int64_t> seen;
    for (int b = 0; b < 8; ++b)
      for (auto s : samples_of(source.next())) seen.push_back(s);
    return seen;
  };
  EXPECT_EQ(draw(3), draw(3));
  EXPECT_NE(draw(3), draw(4));
}

TEST(ShuffledSource, GathersTensorsOfAnyRankAndDtype) {
  // Images (N, C, H, W) and integer labels (N): each row moves whole.
  const std::int64_t N = 6;
  std::vector<double> img;
  std::vector<std::int64_t> labels;
  for (std::int64_t k = 0; k < N; ++k) {
    for (int e = 0; e < 2 * 2 * 3; ++e) img.push_back(static_cast<double>(100 * k + e));
    labels.push_back(k);
  }
  Dataset d{Tensor::from_vector(img, {N, 2, 2, 3}), {Tensor::from_labels(labels, {N})}};
  ShuffledSource source(d, 3, 9);
  for (int b = 0; b < 4; ++b) {
    const Batch batch = source.next();
    ASSERT_EQ(batch.x.shape(), (Shape{3, 2, 2, 3}));
    const std::vector<double> x = batch.x.to_vector(), y = batch.targets[0].to_vector();
    for (std::int64_t r = 0; r < 3; ++r)
      for (int e = 0; e < 12; ++e)
        EXPECT_EQ(x[static_cast<std::size_t>(r * 12 + e)], 100 * y[static_cast<std::size_t>(r)] + e);
  }
}

TEST(ShuffledSource, RejectsBadBatchSizesAndMismatchedTargets) {
  EXPECT_THROW(ShuffledSource(numbered_dataset(5, 1), 0, 1), Error);
  EXPECT_THROW(ShuffledSource(numbered_dataset(5, 1), 6, 1), Error);
  Dataset d = numbered_dataset(5, 2);
  d.targets[1] = d.targets[1].slice(0, 4);
  EXPECT_THROW(ShuffledSource(d, 2, 1), Error);
}

}  // namespace
}  // namespace gn::app
