#pragma once
// Hand-computed cases of the dense-prediction losses and the resolution rule (core/ops_dense_loss.h),
// written once and run on the CPU (dense_loss_test.cpp) and on CUDA (dense_loss_cuda_test.cpp).
// Every expected number below is worked out by hand in the comment beside it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "tests/core/gradcheck.h"

namespace gn_dense_test {

using gn::Device;
using gn::DType;
using gn::Shape;
using gn::Tensor;
using Vec = std::vector<double>;

// Tolerance for a hand-computed value: float32 holds ~7 digits, float64 ~16.
inline double tol(DType dt) { return dt == DType::Float32 ? 2e-6 : 1e-13; }

// The loss value and pred's gradient for an upstream gradient `seed`, both read back to the host.
struct LossAndGrad {
  double loss;
  Vec grad_pred;
  Vec grad_target;  // empty when the target got none
};
template <class F>
LossAndGrad run_loss(F loss_fn, const Vec& p, const Vec& t, const Shape& s, DType dt, Device dev, double seed = 1.0,
                     bool target_grad = false) {
  Tensor pred = Tensor::from_vector(p, s, dt, dev).set_requires_grad();
  Tensor target = Tensor::from_vector(t, s, dt, dev);
  if (target_grad) target.set_requires_grad();
  const Tensor loss = loss_fn(pred, target);
  EXPECT_EQ(loss.shape(), Shape{});
  EXPECT_EQ(loss.device(), dev);
  EXPECT_EQ(loss.dtype(), dt);
  gn::backward(loss, Tensor::scalar(seed, dt, dev));
  LossAndGrad r{loss.item(), pred.grad().to_vector(), {}};
  if (target_grad) r.grad_target = target.grad().to_vector();
  return r;
}

// Depth (1, 1, 2, 3). Valid where t > 0: elements 1, 2, 4, 5 (t = 0 and t = -2 do not count).
//   squared: (2-1)^2 + (3-5)^2 + (5-2)^2 + (6-6)^2 = 1 + 4 + 9 + 0 = 14 -> 14 / 4 = 3.5
//            grad 2 (p - t) / 4 = [0, 0.5, -1, 0, 1.5, 0]
//   absolute: 1 + 2 + 3 + 0 = 6 -> 1.5; grad sign(p - t) / 4 = [0, .25, -.25, 0, .25, 0] (0 where p == t)
inline const Vec kDepthPred = {1, 2, 3, 4, 5, 6};
inline const Vec kDepthTarget = {0, 1, 5, -2, 2, 6};
inline const Shape kDepthShape = {1, 1, 2, 3};

inline void check_masked_values(Device dev, DType dt) {
  SCOPED_TRACE(std::string(gn::dtype_name(dt)) + " on " + gn::to_string(dev));
  const LossAndGrad l2 = run_loss(gn::masked_mse_loss, kDepthPred, kDepthTarget, kDepthShape, dt, dev, 1.0, true);
  EXPECT_NEAR(l2.loss, 3.5, tol(dt) * 3.5);
  EXPECT_TRUE(gn_test::all_close(l2.grad_pred, {0, 0.5, -1, 0, 1.5, 0}, tol(dt), tol(dt)));
  EXPECT_TRUE(gn_test::all_close(l2.grad_target, {0, -0.5, 1, 0, -1.5, 0}, tol(dt), tol(dt)));
  const LossAndGrad l1 = run_loss(gn::masked_l1_loss, kDepthPred, kDepthTarget, kDepthShape, dt, dev, 1.0, true);
  EXPECT_NEAR(l1.loss, 1.5, tol(dt) * 1.5);
  EXPECT_TRUE(gn_test::all_close(l1.grad_pred, {0, 0.25, -0.25, 0, 0.25, 0}, tol(dt), tol(dt)));
  EXPECT_TRUE(gn_test::all_close(l1.grad_target, {0, -0.25, 0.25, 0, -0.25, 0}, tol(dt), tol(dt)));
  // The upstream gradient scales the whole gradient: seed 3 -> 3x.
  const LossAndGrad l2s = run_loss(gn::masked_mse_loss, kDepthPred, kDepthTarget, kDepthShape, dt, dev, 3.0);
  EXPECT_TRUE(gn_test::all_close(l2s.grad_pred, {0, 1.5, -3, 0, 4.5, 0}, tol(dt), tol(dt)));
}

// Normals (1, 3, 1, 4): four pixels, channel c of pixel s at c * 4 + s.
//   s = 0: p = (1, 0, 0), t = (0, 2, 0)  -> cos 0, term 1 (t need not be unit: t / |t| = (0, 1, 0));
//          grad -(t_hat - cos p_hat) / |p| = (0, -1, 0)
//   s = 1: p = (3, 4, 0), t = (0.6, 0.8, 0) -> cos 1, term 0, grad (t_hat - p_hat) = 0
//   s = 2: p = (1, 1, 1), t = 0           -> invalid: no term, grad 0
//   s = 3: p = (2^-44, 0, 0) (|p| < eps = 1e-12), t = (1, 0, 0) -> p_hat = p / eps, cos = 2^-44 / 1e-12,
//          term 1 - cos; grad -t_hat / eps = (-1e12, 0, 0)
//   3 valid pixels: loss = (1 + 0 + 1 - 2^-44 / 1e-12) / 3; every gradient / 3.
inline void check_normal_values(Device dev, DType dt) {
  SCOPED_TRACE(std::string(gn::dtype_name(dt)) + " on " + gn::to_string(dev));
  const double tiny = std::ldexp(1.0, -44);
  // clang-format off
  const Vec p = {1, 3, 1, tiny,
                 0, 4, 1, 0,
                 0, 0, 1, 0};
  const Vec t = {0, 0.6, 0, 1,
                 2, 0.8, 0, 0,
                 0, 0,   0, 0};
  // clang-format on
  const LossAndGrad r = run_loss(gn::normal_cosine_loss, p, t, {1, 3, 1, 4}, dt, dev);
  const double expect = (2 - tiny / 1e-12) / 3;
  EXPECT_NEAR(r.loss, expect, tol(dt) * expect);
  // Float32 rounds 0.6 and 0.8, so pixel 1's cos is 1 only to float32's precision: its gradient is ~1e-8.
  const Vec g = {0, 0, 0, -1e12 / 3, -1.0 / 3, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_TRUE(gn_test::all_close(r.grad_pred, g, dt == DType::Float32 ? 1e-6 : 1e-13, tol(dt)));
}

// No valid pixel anywhere: loss exactly 0, every gradient exactly 0, no NaN.
inline void check_all_invalid(Device dev, DType dt) {
  SCOPED_TRACE(std::string(gn::dtype_name(dt)) + " on " + gn::to_string(dev));
  const Vec p = {1, -2, 3, 0.5, 7, -1};
  auto exactly_zero = [](const LossAndGrad& r, const char* what) {
    EXPECT_EQ(r.loss, 0.0) << what;
    for (const double v : r.grad_pred) EXPECT_EQ(v, 0.0) << what;  // also fails on NaN
  };
  exactly_zero(run_loss(gn::masked_mse_loss, p, {0, 0, -1, 0, -3, 0}, kDepthShape, dt, dev), "masked_mse_loss");
  exactly_zero(run_loss(gn::masked_l1_loss, p, {0, 0, -1, 0, -3, 0}, kDepthShape, dt, dev), "masked_l1_loss");
  exactly_zero(run_loss(gn::normal_cosine_loss, p, Vec(6, 0.0), {1, 3, 1, 2}, dt, dev), "normal_cosine_loss");
}

// A NaN target is an invalid pixel (NaN > 0 is false) for both depth and normals; inf propagates.
inline void check_non_finite_targets(Device dev, DType dt) {
  SCOPED_TRACE(std::string(gn::dtype_name(dt)) + " on " + gn::to_string(dev));
  const double nan = std::nan(""), inf = INFINITY;
  Vec t = kDepthTarget;
  t[0] = nan;  // was 0 (invalid) already: the values of the hand case stay
  const LossAndGrad l2 = run_loss(gn::masked_mse_loss, kDepthPred, t, kDepthShape, dt, dev);
  EXPECT_NEAR(l2.loss, 3.5, tol(dt) * 3.5);
  EXPECT_EQ(l2.grad_pred[0], 0.0);
  t[0] = inf;
  const LossAndGrad l2i = run_loss(gn::masked_mse_loss, kDepthPred, t, kDepthShape, dt, dev);
  EXPECT_TRUE(std::isinf(l2i.loss));
  const LossAndGrad l1i = run_loss(gn::masked_l1_loss, kDepthPred, t, kDepthShape, dt, dev);
  EXPECT_TRUE(std::isinf(l1i.loss));
  EXPECT_NEAR(l1i.grad_pred[0], -1.0 / 5, tol(dt));  // sign(p - inf) / 5 valid pixels: finite
  // Normals (1, 3, 1, 2): pixel 1's target has a NaN -> invalid; pixel 0 is p = t -> term 0.
  const Vec p = {1, 1, 0, 1, 0, 1};
  const LossAndGrad n = run_loss(gn::normal_cosine_loss, p, {1, nan, 0, 0, 0, 0}, {1, 3, 1, 2}, dt, dev);
  EXPECT_NEAR(n.loss, 0.0, tol(dt));
  for (const double v : n.grad_pred) EXPECT_FALSE(std::isnan(v));
}

// The resolution rule, 4x4 -> 2x2: source index floor(o * 4 / 2) = 2 o, so rows and columns 0 and 2.
inline void check_resize(Device dev) {
  SCOPED_TRACE(gn::to_string(dev));
  // Float depth (1, 1, 4, 4), x[h][w] = 10 h + w -> [x00, x02, x20, x22] = [0, 2, 20, 22].
  Vec d(16);
  for (int h = 0; h < 4; ++h)
    for (int w = 0; w < 4; ++w) d[h * 4 + w] = 10 * h + w;
  for (const DType dt : {DType::Float32, DType::Float64}) {
    const Tensor depth = Tensor::from_vector(d, {1, 1, 4, 4}, dt, dev);
    const Tensor small = gn::resize_nearest2d(depth, 2, 2);
    EXPECT_EQ(small.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_EQ(small.dtype(), dt);
    EXPECT_EQ(small.to_vector(), (Vec{0, 2, 20, 22}));
    EXPECT_FALSE(small.requires_grad());
  }
  // Int64 labels (2, 4, 4) resized through their last two dims; -1 (ignored) stays -1, values are copies.
  std::vector<std::int64_t> labels(32);
  for (int i = 0; i < 32; ++i) labels[i] = i % 3 == 0 ? -1 : i;  // picked: 0, 2, 8, 10, 16, 18, 24, 26
  const Tensor lab = gn::resize_nearest2d(Tensor::from_labels(labels, {2, 4, 4}, dev), 2, 2);
  EXPECT_EQ(lab.dtype(), DType::Int64);
  EXPECT_EQ(lab.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(lab.to_vector(), (Vec{-1, 2, 8, 10, 16, -1, -1, 26}));
  // Upsampling replicates: 2x2 -> 4x4 (source floor(o / 2)).
  const std::vector<std::int64_t> four = {1, 2, 3, 4};
  const Tensor up = gn::resize_nearest2d(Tensor::from_labels(four, {1, 2, 2}, dev), 4, 4);
  EXPECT_EQ(up.to_vector(), (Vec{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  // Unit normals (1, 3, 4, 4) with some all-zero pixels stay unit / all-zero, channel by channel.
  gn::Generator gen(7);
  Vec nv(48, 0.0);
  for (int s = 0; s < 16; ++s) {
    if (s % 5 == 0) continue;  // all-zero: invalid
    double v[3], norm = 0;
    for (double& c : v) {
      c = gen.uniform() - 0.5;
      norm += c * c;
    }
    for (int c = 0; c < 3; ++c) nv[c * 16 + s] = v[c] / std::sqrt(norm);
  }
  const Vec small = gn::resize_nearest2d(Tensor::from_vector(nv, {1, 3, 4, 4}, DType::Float64, dev), 2, 2).to_vector();
  const int picked[] = {0, 2, 8, 10};
  for (int o = 0; o < 4; ++o) {
    double norm = 0;
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(small[c * 4 + o], nv[c * 16 + picked[o]]);
      norm += small[c * 4 + o] * small[c * 4 + o];
    }
    if (picked[o] % 5 == 0)
      EXPECT_EQ(norm, 0.0);
    else
      EXPECT_NEAR(norm, 1.0, 1e-14);
  }
}

}  // namespace gn_dense_test
