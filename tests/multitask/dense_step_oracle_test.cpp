// The fast step with a convolutional W and the paper's three NYUv2 tasks (masked depth L2, 2-D
// cross-entropy with ignored pixels, masked normals cosine; targets at twice the predictions'
// resolution) against the naive float64 oracle, for every weighting and GradNorm at alpha 0 and 1.5.
#include <gtest/gtest.h>

#include <string>

#include "dense_fixture.h"
#include "oracle_driver.h"

namespace gn {
namespace {

using namespace testing_support;

struct DenseOracleCase {
  const char* name;
  const char* method;
  double alpha;
};

class DenseStepOracle : public ::testing::TestWithParam<DenseOracleCase> {};

TEST_P(DenseStepOracle, FastStepEqualsNaive) {
  const DenseProblem p;
  expect_fast_equals_naive([&](std::uint64_t seed) { return dense_model(p, seed); },
                           [&](int t) { return dense_batch(p, 500 + t); }, GetParam().method, 4, GetParam().alpha);
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, DenseStepOracle,
                         ::testing::Values(DenseOracleCase{"equal", "equal", 0}, DenseOracleCase{"static", "static", 0},
                                           DenseOracleCase{"gradnorm_alpha0", "gradnorm", 0.0},
                                           DenseOracleCase{"gradnorm_alpha1_5", "gradnorm", 1.5},
                                           DenseOracleCase{"uncertainty", "uncertainty", 0}),
                         [](const auto& info) { return std::string(info.param.name); });

// The batch really has the masks the losses must honour, and the predictions really are at half the
// targets' resolution: otherwise the test above would not exercise the resolution rule or the masks.
TEST(DenseStepOracleSetup, TargetsHaveInvalidPixelsAndTwiceThePredictionResolution) {
  const DenseProblem p;
  auto model = dense_model(p, 9);
  const TinyBatch b = dense_batch(p, 500);
  const auto preds = model->forward_all(b.x);
  ASSERT_EQ(preds.size(), 3u);
  EXPECT_EQ(preds[0].shape(), (Shape{p.batch, 1, p.height / 2, p.width / 2}));
  EXPECT_EQ(preds[1].shape(), (Shape{p.batch, p.classes, p.height / 2, p.width / 2}));
  int zero_depth = 0, ignored = 0;
  for (double d : b.y[0].to_vector()) zero_depth += d == 0.0;
  for (double l : b.y[1].to_vector()) ignored += l == -1.0;
  EXPECT_GT(zero_depth, 0);
  EXPECT_GT(ignored, 0);
}

}  // namespace
}  // namespace gn
