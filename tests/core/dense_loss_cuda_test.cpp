// The dense-prediction losses and the resolution rule on CUDA: the hand-computed cases of
// dense_loss_cases.h (values, the empty mask, non-finite targets, nearest resizing of float and int64
// targets), float64 on the device against the CPU, and the loss's count staying on the device. Every test
// starts with GN_SKIP_WITHOUT_CUDA(): skipped, visibly, on a machine without a GPU.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "tests/core/dense_loss_cases.h"
#include "tests/core/gradcheck.h"
#include "tests/cuda_test_support.h"

namespace {

using gn::DType;
using gn::Tensor;
using Vec = std::vector<double>;

constexpr DType kDtypes[] = {DType::Float32, DType::Float64};

TEST(DenseLossCuda, MaskedDepthValuesByHand) {
  GN_SKIP_WITHOUT_CUDA();
  for (const DType dt : kDtypes) gn_dense_test::check_masked_values(gn::cuda_device(0), dt);
}

TEST(DenseLossCuda, NormalCosineValuesByHand) {
  GN_SKIP_WITHOUT_CUDA();
  for (const DType dt : kDtypes) gn_dense_test::check_normal_values(gn::cuda_device(0), dt);
}

TEST(DenseLossCuda, NoValidPixelGivesZeroLossAndExactlyZeroGradient) {
  GN_SKIP_WITHOUT_CUDA();
  for (const DType dt : kDtypes) gn_dense_test::check_all_invalid(gn::cuda_device(0), dt);
}

TEST(DenseLossCuda, NanTargetIsInvalidInfPropagates) {
  GN_SKIP_WITHOUT_CUDA();
  for (const DType dt : kDtypes) gn_dense_test::check_non_finite_targets(gn::cuda_device(0), dt);
}

TEST(DenseLossCuda, ResizeFloatAndInt64) {
  GN_SKIP_WITHOUT_CUDA();
  gn_dense_test::check_resize(gn::cuda_device(0));
}

// Float64 on the device computes the same per-pixel math in double as the CPU: values and gradients agree
// to summation-order rounding, over many reduction blocks and a ragged tail.
TEST(DenseLossCuda, Float64MatchesCpu) {
  GN_SKIP_WITHOUT_CUDA();
  gn::Generator gen(401);
  const gn::Shape s{3, 3, 181, 243};  // 131949 pixels: many first-pass blocks, a partial last one
  const Tensor x = gn_test::uniform(s, gen, -1, 1);
  const Tensor t = gn_test::uniform(s, gen, -0.5, 2);  // a fifth <= 0: invalid depth
  const auto losses = {gn::masked_mse_loss, gn::masked_l1_loss, gn::normal_cosine_loss};
  for (const auto& f : losses) {
    Vec got[2];
    double val[2];
    int k = 0;
    for (const gn::Device dev : {gn::cpu_device(), gn::cuda_device(0)}) {
      Tensor p = x.to(dev).set_requires_grad();
      const Tensor loss = f(p, t.to(dev));
      gn::backward(loss);
      val[k] = loss.item();
      got[k++] = p.grad().to_vector();
    }
    EXPECT_NEAR(val[1], val[0], 1e-12 * std::abs(val[0]));
    EXPECT_TRUE(gn_test::all_close(got[1], got[0], 1e-15, 1e-12));
  }
}

// Resizing on the device picks the same source pixels as on the CPU for a non-integer ratio (320 -> 80 is
// exact; 7 -> 3 is not), for int64 labels.
TEST(DenseLossCuda, ResizeMatchesCpuForNonIntegerRatios) {
  GN_SKIP_WITHOUT_CUDA();
  std::vector<std::int64_t> labels(2 * 7 * 9);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 11) - 1;
  const Tensor cpu = Tensor::from_labels(labels, {2, 7, 9});
  for (const auto& [oh, ow] : {std::pair<std::int64_t, std::int64_t>{3, 4}, {10, 13}}) {
    const Tensor want = gn::resize_nearest2d(cpu, oh, ow);
    const Tensor got = gn::resize_nearest2d(cpu.to(gn::cuda_device(0)), oh, ow);
    EXPECT_EQ(got.device(), gn::cuda_device(0));
    EXPECT_EQ(got.to_vector(), want.to_vector());
  }
}

}  // namespace
