// The evaluator sharded over ranks (apps/common/evaluator.h): each rank forwards its share of the set, the
// metrics' float64 accumulators are summed over the ranks, and every rank reports the whole set's metrics.
// The ranks are threads with an in-process communicator that sums in rank order like the MPI one
// (tests/thread_communicator.h). A tiny SegNet with the NYUv2 metrics (confusion matrix, depth sums, normal
// angle histogram) on random scenes with invalid pixels.
//   - shards that start on multiples of the batch: every forward is the one-process one and the float64
//     sums add in the same order (0 + b0 + b1 == b0 + b1): bitwise equal;
//   - any shards with batch 1: the same predictions, the sums in another order: within 1e-12 relative
//     (float64 addition of at most a few thousand terms, ~1e-16 each); the integer counts are exact.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "apps/common/evaluator.h"
#include "apps/nyuv2/experiment.h"
#include "core/rng.h"
#include "tests/thread_communicator.h"

namespace gn::app {
namespace {

using testing_support::run_ranks;
using testing_support::ThreadWorld;

std::shared_ptr<multitask::MultitaskModel> tiny_segnet() {
  nyuv2::ModelSpec spec;
  spec.kind = nyuv2::ModelKind::SegNet;
  spec.width_mult = 0.0625;
  spec.seed = 4;
  spec.tasks = nyuv2::make_task_specs({nyuv2::NyuTask::Segmentation, nyuv2::NyuTask::Depth, nyuv2::NyuTask::Normal}, 0);
  return nyuv2::make_nyuv2_model(spec);
}

// n scenes of 32x32: a fifth of the labels -1, of the depths 0 and of the normals zero.
Dataset scenes(std::int64_t n) {
  Generator gen(8);
  const std::int64_t H = 32, W = 32, P = n * H * W;
  std::vector<std::int64_t> labels(static_cast<std::size_t>(P));
  std::vector<double> depth(static_cast<std::size_t>(P)), normals(static_cast<std::size_t>(3 * P), 0.0);
  for (std::int64_t i = 0; i < P; ++i) {
    labels[static_cast<std::size_t>(i)] = gen.next_u64() % 5 == 0 ? -1 : static_cast<std::int64_t>(gen.next_u64() % 13);
    depth[static_cast<std::size_t>(i)] =
        gen.next_u64() % 5 == 0 ? 0.0 : 0.5 + static_cast<double>(gen.next_u64() % 90) / 20;
  }
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t s = 0; s < H * W; ++s)
      if (gen.next_u64() % 5 != 0) normals[static_cast<std::size_t>((b * 3 + 2) * H * W + s)] = 1.0;
  return Dataset{Tensor::randn({n, 3, H, W}, gen, 0, 1, DType::Float32),
                 {Tensor::from_labels(labels, {n, H, W}), Tensor::from_vector(depth, {n, 1, H, W}, DType::Float32),
                  Tensor::from_vector(normals, {n, 3, H, W}, DType::Float32)}};
}

std::vector<double> values(const EvalResult& r) {
  std::vector<double> v;
  for (const TaskScores& t : r.tasks) v.insert(v.end(), t.values.begin(), t.values.end());
  return v;
}

// Every rank's metrics over `data`, with `ranks` shards of eval batch `batch`.
std::vector<std::vector<double>> sharded(const Dataset& data, int ranks, std::int64_t batch) {
  std::vector<std::vector<double>> out(static_cast<std::size_t>(ranks));
  ThreadWorld world(ranks);
  run_ranks(world, [&](Communicator& comm) {
    auto model = tiny_segnet();
    Evaluator ev(*model, data, batch, &comm);
    out[static_cast<std::size_t>(comm.rank())] = values(ev.evaluate());
  });
  return out;
}

TEST(EvaluatorShards, AlignedShardsGiveBitwiseTheOneProcessMetrics) {
  const Dataset data = scenes(8);
  auto model = tiny_segnet();
  Evaluator one(*model, data, 4);
  const std::vector<double> want = values(one.evaluate());
  for (const auto& got : sharded(data, 2, 4)) EXPECT_EQ(got, want);  // shards 4 + 4: one batch each
}

TEST(EvaluatorShards, AnyShardsGiveTheOneProcessMetricsWithinFloat64Rounding) {
  const Dataset data = scenes(7);
  auto model = tiny_segnet();
  Evaluator one(*model, data, 1);
  const std::vector<double> want = values(one.evaluate());
  for (int ranks : {2, 3}) {  // 4 + 3 and 3 + 2 + 2 samples
    const auto all = sharded(data, ranks, 1);
    for (const auto& got : all) {
      ASSERT_EQ(got.size(), want.size());
      for (std::size_t k = 0; k < want.size(); ++k)
        EXPECT_NEAR(got[k], want[k], 1e-12 * std::max(1.0, std::abs(want[k]))) << ranks << " ranks, value " << k;
      EXPECT_EQ(got, all[0]) << "every rank reports the same bits";
    }
  }
}

// More ranks than samples: the ranks without a sample contribute zeros and still get the set's metrics.
TEST(EvaluatorShards, RanksWithoutSamplesStillReport) {
  const Dataset data = scenes(2);
  auto model = tiny_segnet();
  Evaluator one(*model, data, 1);
  const std::vector<double> want = values(one.evaluate());
  for (const auto& got : sharded(data, 3, 1))
    for (std::size_t k = 0; k < want.size(); ++k)
      EXPECT_NEAR(got[k], want[k], 1e-12 * std::max(1.0, std::abs(want[k])));
}

}  // namespace
}  // namespace gn::app
