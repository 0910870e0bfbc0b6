// The dense task losses of multitask/task.h (depth_l2, depth_l1, segmentation, normals, keypoints): names,
// flags, segmentation's natural L_i(0) = log C, and the resolution rule applied inside each loss (a
// prediction at half the target's resolution is scored against the target's nearest-resized pixels).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "multitask/initial_loss.h"
#include "multitask/task.h"

namespace gn {
namespace {

using multitask::TaskLoss;
using Vec = std::vector<double>;

// t (planes, 2h, 2w) -> (planes, h, w): the pixels at rows and columns 2 o + offset, by hand. offset 0 is
// what nearest resizing picks (source floor(o * 2h / h) = 2 o).
Vec every_other_pixel(const Vec& t, std::int64_t planes, std::int64_t H, std::int64_t W, std::int64_t offset = 0) {
  Vec out;
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t h = offset; h < H; h += 2)
      for (std::int64_t w = offset; w < W; w += 2) out.push_back(t[(p * H + h) * W + w]);
  return out;
}

TEST(DenseTaskLoss, NamesAndFlags) {
  EXPECT_EQ(TaskLoss::depth_l2().name, "depth_l2");
  EXPECT_EQ(TaskLoss::depth_l1().name, "depth_l1");
  EXPECT_EQ(TaskLoss::segmentation(13).name, "segmentation");
  EXPECT_EQ(TaskLoss::normals().name, "normals_cosine");
  EXPECT_EQ(TaskLoss::keypoints().name, "heatmap_mse");
  // Only plain MSE (heatmaps are plain MSE at the prediction's resolution) takes the fused MSE path.
  EXPECT_TRUE(TaskLoss::keypoints().fused_mse);
  EXPECT_FALSE(TaskLoss::depth_l2().fused_mse);
  EXPECT_FALSE(TaskLoss::depth_l1().fused_mse);
  EXPECT_FALSE(TaskLoss::segmentation(13).fused_mse);
  EXPECT_FALSE(TaskLoss::normals().fused_mse);
}

TEST(DenseTaskLoss, SegmentationCarriesLogCAsItsNaturalInitialLoss) {
  for (const std::int64_t C : {2, 13, 40}) {
    const TaskLoss seg = TaskLoss::segmentation(C);
    ASSERT_TRUE(seg.natural_initial_loss.has_value());
    EXPECT_DOUBLE_EQ(*seg.natural_initial_loss, std::log(static_cast<double>(C)));
    // It is what an untrained (uniform) classifier scores: zero logits give exactly log C.
    std::vector<std::int64_t> labels = {0, 1, -1, 1};
    const Tensor loss = seg.fn(Tensor::zeros({1, C, 2, 2}, DType::Float64), Tensor::from_labels(labels, {1, 2, 2}));
    EXPECT_NEAR(loss.item(), std::log(static_cast<double>(C)), 1e-12);
    // An app can hand it to GradNorm as L_i(0).
    EXPECT_EQ(multitask::InitialLoss::given({*seg.natural_initial_loss}).values(), Vec{std::log(double(C))});
  }
  for (const TaskLoss& l : {TaskLoss::mse(), TaskLoss::cross_entropy(), TaskLoss::depth_l2(), TaskLoss::depth_l1(),
                            TaskLoss::normals(), TaskLoss::keypoints()})
    EXPECT_FALSE(l.natural_initial_loss.has_value()) << l.name;
  EXPECT_THROW(TaskLoss::segmentation(1), Error);
}

TEST(DenseTaskLoss, SegmentationAtHalfResolution) {
  Generator gen(501);
  const std::int64_t C = 3;
  std::vector<std::int64_t> labels(2 * 4 * 4);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 4) - 1;  // -1, 0, 1, 2
  // Row-major 4x4 labels: columns 0 and 2 hold -1 and 1, so the picked pixels are -1 (ignored) and 1.
  Tensor logits = Tensor::randn({2, C, 2, 2}, gen, 0, 1, DType::Float64).set_requires_grad();
  const Tensor loss = TaskLoss::segmentation(C).fn(logits, Tensor::from_labels(labels, {2, 4, 4}));
  Vec lv(labels.begin(), labels.end());
  const Vec picked = every_other_pixel(lv, 2, 4, 4);
  EXPECT_EQ(picked, (Vec{-1, 1, -1, 1, -1, 1, -1, 1}));
  std::vector<std::int64_t> small(picked.begin(), picked.end());
  const Tensor want = cross_entropy(logits.detach(), Tensor::from_labels(small, {2, 2, 2}), -1);
  EXPECT_DOUBLE_EQ(loss.item(), want.item());
  backward(loss);
  EXPECT_EQ(logits.grad().shape(), logits.shape());
  // Logits with the wrong number of classes are refused, naming the task.
  EXPECT_THROW(TaskLoss::segmentation(C + 1).fn(logits, Tensor::from_labels(labels, {2, 4, 4})), Error);
}

TEST(DenseTaskLoss, DepthAtHalfResolution) {
  Generator gen(502);
  Vec depth = Tensor::uniform({2, 1, 4, 6}, gen, 0.5, 5, DType::Float64).to_vector();
  for (std::size_t i = 0; i < depth.size(); i += 4) depth[i] = 0;  // invalid, some of them picked
  const Tensor target = Tensor::from_vector(depth, {2, 1, 4, 6}, DType::Float64);
  const Tensor small = Tensor::from_vector(every_other_pixel(depth, 2, 4, 6), {2, 1, 2, 3}, DType::Float64);
  for (const bool l1 : {false, true}) {
    Tensor pred = Tensor::randn({2, 1, 2, 3}, gen, 2, 1, DType::Float64).set_requires_grad();
    const TaskLoss task = l1 ? TaskLoss::depth_l1() : TaskLoss::depth_l2();
    const Tensor loss = task.fn(pred, target);
    const Tensor want = l1 ? masked_l1_loss(pred.detach(), small) : masked_mse_loss(pred.detach(), small);
    EXPECT_DOUBLE_EQ(loss.item(), want.item()) << task.name;
    // Not the loss against the other pixels of each 2x2 block: which pixel the rule picks matters.
    const Tensor odd = Tensor::from_vector(every_other_pixel(depth, 2, 4, 6, 1), {2, 1, 2, 3}, DType::Float64);
    EXPECT_NE(loss.item(), (l1 ? masked_l1_loss(pred.detach(), odd) : masked_mse_loss(pred.detach(), odd)).item());
    backward(loss);
    EXPECT_EQ(pred.grad().shape(), pred.shape()) << task.name;
  }
  // Same resolution: the target is used as it is.
  Tensor pred = Tensor::randn({2, 1, 4, 6}, gen, 2, 1, DType::Float64);
  EXPECT_DOUBLE_EQ(TaskLoss::depth_l2().fn(pred, target).item(), masked_mse_loss(pred, target).item());
}

TEST(DenseTaskLoss, NormalsAtHalfResolution) {
  Generator gen(503);
  const std::int64_t H = 4, W = 4, S = H * W;
  Vec n(2 * 3 * S, 0.0);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t s = 0; s < S; ++s) {
      if (s % 3 == 0) continue;  // all zero: invalid
      double v[3], norm = 0;
      for (double& c : v) {
        c = gen.uniform() - 0.5;
        norm += c * c;
      }
      for (std::int64_t c = 0; c < 3; ++c) n[(b * 3 + c) * S + s] = v[c] / std::sqrt(norm);
    }
  const Tensor target = Tensor::from_vector(n, {2, 3, H, W}, DType::Float64);
  const Tensor small = Tensor::from_vector(every_other_pixel(n, 6, H, W), {2, 3, 2, 2}, DType::Float64);
  Tensor pred = Tensor::randn({2, 3, 2, 2}, gen, 0, 1, DType::Float64).set_requires_grad();
  const Tensor loss = TaskLoss::normals().fn(pred, target);
  EXPECT_DOUBLE_EQ(loss.item(), normal_cosine_loss(pred.detach(), small).item());
  backward(loss);
  EXPECT_EQ(pred.grad().shape(), pred.shape());
}

TEST(DenseTaskLoss, KeypointHeatmapsAreAreaDownsampled) {
  Generator gen(504);
  Tensor pred = Tensor::randn({2, 5, 3, 3}, gen, 0, 1, DType::Float64).set_requires_grad();
  const Tensor same = Tensor::uniform({2, 5, 3, 3}, gen, 0, 1, DType::Float64);
  EXPECT_DOUBLE_EQ(TaskLoss::keypoints().fn(pred, same).item(), mse_loss(pred, same).item());
  // At twice the prediction's resolution: the target is the mean of each 2x2 block (by hand here).
  const Tensor big = Tensor::uniform({2, 5, 6, 6}, gen, 0, 1, DType::Float64);
  const std::vector<double> b = big.to_vector();
  std::vector<double> down(2 * 5 * 3 * 3);
  for (std::int64_t m = 0; m < 10; ++m)
    for (std::int64_t y = 0; y < 3; ++y)
      for (std::int64_t x = 0; x < 3; ++x) {
        const auto at = [&](std::int64_t yy, std::int64_t xx) {
          return b[static_cast<std::size_t>((m * 6 + yy) * 6 + xx)];
        };
        down[static_cast<std::size_t>((m * 3 + y) * 3 + x)] =
            (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
      }
  const Tensor expected = Tensor::from_vector(down, {2, 5, 3, 3}, DType::Float64);
  const Tensor loss = TaskLoss::keypoints().fn(pred, big);
  EXPECT_NEAR(loss.item(), mse_loss(pred.detach(), expected).item(), 1e-14);
  backward(loss);
  const std::vector<double> p = pred.detach().to_vector(), g = pred.grad().to_vector();
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(g[i], 2 * (p[i] - down[i]) / 90.0, 1e-14) << i;
  // A peak stays in the block that holds it (nearest resizing would keep only one pixel of each block).
  Tensor peak = Tensor::zeros({1, 1, 8, 8}, DType::Float64);
  peak.data<double>()[5 * 8 + 3] = 1;  // row 5, column 3: block (1, 0) of a 4x4 grid over 2x2 predictions
  const Tensor zero_pred = Tensor::zeros({1, 1, 2, 2}, DType::Float64);
  EXPECT_DOUBLE_EQ(TaskLoss::keypoints().fn(zero_pred, peak).item(), (1.0 / 16) * (1.0 / 16) / 4);
  // Not a whole multiple, or other counts: refused, naming both shapes.
  for (const Shape& bad : {Shape{2, 5, 7, 7}, Shape{2, 4, 6, 6}, Shape{2, 5, 6}}) {
    try {
      TaskLoss::keypoints().fn(pred.detach(), Tensor::zeros(bad, DType::Float64));
      ADD_FAILURE() << "heatmaps " << to_string(bad) << " must be refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("heatmap_mse"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(to_string(bad)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace gn
