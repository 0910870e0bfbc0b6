// Tensor factories, views, conversions, host access, the seeded RNG and device parsing.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "core/rng.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using gn_test::throws_error_with;
using Vec = std::vector<double>;

TEST(Tensor, Factories) {
  const Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_TRUE(z.device().is_cpu());
  EXPECT_EQ(z.to_vector(), Vec(6, 0.0));
  EXPECT_EQ(Tensor::ones({4}, DType::Float64).to_vector(), Vec(4, 1.0));
  EXPECT_EQ(Tensor::full({2, 2}, -2.5, DType::Float64).to_vector(), Vec(4, -2.5));
  EXPECT_EQ(Tensor::full({3}, 7.9, DType::Int64).to_vector(), Vec(3, 7.0));
  const Tensor s = Tensor::scalar(3.25, DType::Float64);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item(), 3.25);
  EXPECT_EQ(Tensor::zeros({0, 3}).numel(), 0);
  EXPECT_TRUE(Tensor::zeros({0, 3}).to_vector().empty());
  EXPECT_FALSE(Tensor().defined());
  EXPECT_TRUE(throws_error_with([] { Tensor::zeros({2, -1}); }, {"negative", "(2, -1)"}));
}

TEST(Tensor, FromVectorAndLabels) {
  const Vec v = {1.5, -2, 3.25, 4, 5, 6};
  const Tensor d = Tensor::from_vector(v, {2, 3}, DType::Float64);
  EXPECT_EQ(d.to_vector(), v);
  EXPECT_EQ(d.data<double>()[2], 3.25);
  const std::vector<float> fv = {0.1f, 0.2f};
  const Tensor f = Tensor::from_vector(fv, {2});
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_EQ(f.data<float>()[1], 0.2f);
  const std::vector<std::int64_t> lv = {3, -100, 0};
  const Tensor l = Tensor::from_labels(lv, {3});
  EXPECT_EQ(l.dtype(), DType::Int64);
  EXPECT_EQ(l.data<std::int64_t>()[1], -100);
  EXPECT_TRUE(throws_error_with([&] { Tensor::from_vector(v, {4}); }, {"from_vector", "6", "(4,)"}));
  EXPECT_TRUE(throws_error_with([&] { Tensor::from_labels(lv, {2}); }, {"from_labels", "(2,)"}));
  EXPECT_TRUE(throws_error_with([&] { d.data<float>(); }, {"float32", "float64"}));
}

TEST(Tensor, Metadata) {
  const Tensor t = Tensor::zeros({2, 3, 4}, DType::Float64);
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.size(1), 3);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 24u * 8);
  EXPECT_EQ(Tensor::zeros({5}).nbytes(), 20u);
  EXPECT_TRUE(throws_error_with([&] { t.size(3); }, {"axis 3"}));
  EXPECT_EQ(gn::to_string(Shape{}), "()");
  EXPECT_EQ(gn::to_string(Shape{3}), "(3,)");
  EXPECT_EQ(gn::to_string(Shape{2, 3}), "(2, 3)");
}

TEST(Tensor, ReshapeIsAWriteThroughView) {
  const Tensor base = Tensor::from_vector(Vec{0, 1, 2, 3, 4, 5}, {2, 3}, DType::Float64);
  const Tensor r = base.reshape({3, 2});
  EXPECT_EQ(r.raw_data(), base.raw_data());
  r.data<double>()[3] = 30;
  EXPECT_EQ(base.to_vector(), (Vec{0, 1, 2, 30, 4, 5}));
  base.data<double>()[0] = -1;
  EXPECT_EQ(r.to_vector()[0], -1);
}

TEST(Tensor, SliceIsAWriteThroughView) {
  const Tensor base = Tensor::from_vector(Vec{0, 1, 2, 3, 4, 5, 6, 7}, {4, 2}, DType::Float64);
  Tensor s = base.slice(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.to_vector(), (Vec{2, 3, 4, 5}));
  s.fill_(9);
  EXPECT_EQ(base.to_vector(), (Vec{0, 1, 9, 9, 9, 9, 6, 7}));
  // A slice of a slice, then a reshape of that: offsets compose.
  Tensor ss = s.slice(1, 2).reshape({2});
  ss.copy_(Tensor::from_vector(Vec{-4, -5}, {2}, DType::Float64));
  EXPECT_EQ(base.to_vector(), (Vec{0, 1, 9, 9, -4, -5, 6, 7}));
  // Ops read a view's own elements.
  EXPECT_EQ(gn::sum(base.slice(3, 4)).item(), 13.0);
  EXPECT_EQ(gn::add(base.slice(2, 3), 1.0).to_vector(), (Vec{-3, -4}));
}

TEST(Tensor, CloneIsIndependent) {
  const Tensor base = Tensor::from_vector(Vec{1, 2, 3, 4}, {2, 2}, DType::Float64);
  Tensor c = base.clone();
  EXPECT_NE(c.raw_data(), base.raw_data());
  EXPECT_EQ(c.to_vector(), base.to_vector());
  c.fill_(0);
  EXPECT_EQ(base.to_vector(), (Vec{1, 2, 3, 4}));
  base.data<double>()[0] = 10;
  EXPECT_EQ(c.to_vector(), (Vec{0, 0, 0, 0}));
  // Clone of a view copies just the view.
  const Tensor cv = base.slice(1, 2).clone();
  EXPECT_EQ(cv.shape(), (Shape{1, 2}));
  EXPECT_EQ(cv.to_vector(), (Vec{3, 4}));
  EXPECT_FALSE(cv.requires_grad());
}

TEST(Tensor, DetachOfAViewSharesTheView) {
  const Tensor base = Tensor::from_vector(Vec{1, 2, 3, 4, 5, 6}, {3, 2}, DType::Float64);
  const Tensor s = base.slice(1, 3);
  const Tensor d = s.detach();
  EXPECT_EQ(d.raw_data(), s.raw_data());
  EXPECT_EQ(d.shape(), (Shape{2, 2}));
  EXPECT_EQ(d.to_vector(), (Vec{3, 4, 5, 6}));
  d.data<double>()[0] = -3;
  EXPECT_EQ(base.to_vector()[2], -3.0);
}

TEST(Tensor, ToDtype) {
  const Tensor d = Tensor::from_vector(Vec{0.1, -2.5, 3}, {3}, DType::Float64);
  const Tensor f = d.to(DType::Float32);
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_EQ(f.shape(), d.shape());
  EXPECT_EQ(f.to_vector(), (Vec{static_cast<double>(0.1f), -2.5, 3}));
  EXPECT_EQ(f.to(DType::Float64).to_vector()[0], static_cast<double>(0.1f));
  EXPECT_EQ(d.to(DType::Int64).to_vector(), (Vec{0, -2, 3}));
  EXPECT_TRUE(d.to(DType::Float64).same(d)) << "to() the same dtype returns the tensor itself";
  // A conversion is a copy.
  Tensor back = d.to(DType::Float32);
  back.fill_(0);
  EXPECT_EQ(d.to_vector()[2], 3.0);
  EXPECT_TRUE(d.to(gn::cpu_device()).same(d));
}

TEST(Tensor, ItemRequiresOneElement) {
  EXPECT_EQ(Tensor::full({1, 1}, 4, DType::Float64).item(), 4.0);
  EXPECT_TRUE(throws_error_with([] { Tensor::zeros({2, 3}).item(); }, {"item", "(2, 3)", "6"}));
  EXPECT_TRUE(throws_error_with([] { Tensor::zeros({0}).item(); }, {"item"}));
}

TEST(Tensor, CopyAndFill) {
  Tensor a = Tensor::zeros({2, 2}, DType::Float64);
  a.copy_(Tensor::from_vector(Vec{1, 2, 3, 4}, {2, 2}, DType::Float64));
  EXPECT_EQ(a.to_vector(), (Vec{1, 2, 3, 4}));
  EXPECT_TRUE(throws_error_with([&] { a.copy_(Tensor::zeros({4}, DType::Float64)); }, {"copy_", "(4,)", "(2, 2)"}));
  EXPECT_TRUE(throws_error_with([&] { a.copy_(Tensor::zeros({2, 2})); }, {"copy_", "float32"}));
  a.fill_(-0.5);
  EXPECT_EQ(a.to_vector(), Vec(4, -0.5));
}

TEST(Tensor, RandomFactoriesAreSeeded) {
  gn::Generator g1(5), g2(5), g3(6);
  const Tensor a = Tensor::randn({100}, g1), b = Tensor::randn({100}, g2), c = Tensor::randn({100}, g3);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());
  const Tensor u = Tensor::uniform({1000}, g1, -3, -1, DType::Float64);
  for (double v : u.to_vector()) {
    EXPECT_GE(v, -3);
    EXPECT_LT(v, -1);
  }
  EXPECT_TRUE(throws_error_with([&] { Tensor::uniform({2}, g1, 1, 0); }, {"uniform"}));
  // mean and stddev are applied.
  gn::Generator g4(9);
  const Vec n = Tensor::randn({20000}, g4, 5.0, 0.5, DType::Float64).to_vector();
  double m = 0;
  for (double v : n) m += v;
  m /= static_cast<double>(n.size());
  EXPECT_NEAR(m, 5.0, 0.02);
}

TEST(Generator, KnownAnswer) {
  // xoshiro256** seeded through splitmix64; reference values from an independent implementation of both.
  gn::Generator g(42);
  EXPECT_EQ(g.next_u64(), 0x15780b2e0c2ec716ULL);
  EXPECT_EQ(g.next_u64(), 0x6104d9866d113a7eULL);
  EXPECT_EQ(g.next_u64(), 0xae17533239e499a1ULL);
  g.manual_seed(42);
  EXPECT_EQ(g.uniform(), 0.08386297105988216);
  // Box-Muller pairs (cos, then the sin spare), from u1 = 1 - uniform(), u2 = uniform(). Near, not equal:
  // log/sin/cos may differ in the last ulp between math libraries.
  g.manual_seed(42);
  for (double ref : {-0.303263064678738, 0.28846173882942383, 1.3438117634372806, -0.6879751798977497})
    EXPECT_NEAR(g.normal(), ref, 1e-14);
}

TEST(Generator, SameSeedSameNumbersDifferentSeedsDiffer) {
  gn::Generator a(123), b(123), c(124);
  std::vector<std::uint64_t> va, vb, vc;
  for (int i = 0; i < 1000; ++i) {
    va.push_back(a.next_u64());
    vb.push_back(b.next_u64());
    vc.push_back(c.next_u64());
  }
  EXPECT_EQ(va, vb);
  int same = 0;
  for (int i = 0; i < 1000; ++i) same += va[i] == vc[i];
  EXPECT_EQ(same, 0);
  // manual_seed restarts the stream, including the cached Box-Muller spare.
  gn::Generator d(7);
  const double n0 = d.normal();
  d.manual_seed(7);
  EXPECT_EQ(d.normal(), n0);
  // fork gives a stream different from the parent's continuation.
  gn::Generator e(8);
  gn::Generator f = e.fork();
  EXPECT_NE(e.next_u64(), f.next_u64());
}

TEST(Generator, UniformAndNormalMoments) {
  gn::Generator g(2024);
  const int n = 100000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0;
  double umin = 1, umax = 0;
  for (int i = 0; i < n; ++i) {
    const double u = g.uniform();
    su += u;
    su2 += u * u;
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    const double z = g.normal();
    sn += z;
    sn2 += z * z;
  }
  const double mu = su / n, mz = sn / n;
  const double vu = su2 / n - mu * mu, sz = std::sqrt(sn2 / n - mz * mz);
  EXPECT_GE(umin, 0.0);
  EXPECT_LT(umax, 1.0);
  // Standard errors: uniform mean 0.29/sqrt(n) ~ 1e-3; normal mean 1/sqrt(n) ~ 3e-3, std 1/sqrt(2n) ~ 2.2e-3.
  EXPECT_NEAR(mu, 0.5, 5e-3);
  EXPECT_NEAR(vu, 1.0 / 12, 2e-3);
  EXPECT_NEAR(mz, 0.0, 0.015);
  EXPECT_NEAR(sz, 1.0, 0.012);
}

TEST(Device, ParseDevice) {
  EXPECT_EQ(gn::parse_device("cpu"), gn::cpu_device());
  const gn::Device a = gn::parse_device("auto");
  EXPECT_EQ(a, gn::cuda_available() ? gn::cuda_device(0) : gn::cpu_device());
  EXPECT_TRUE(throws_error_with([] { gn::parse_device("bogus"); }, {"bogus", "expected auto, cpu, cuda or cuda:N"}));
  EXPECT_TRUE(throws_error_with([] { gn::parse_device("cuda:x"); }, {"cuda:x"}));
  EXPECT_TRUE(throws_error_with([] { gn::parse_device("cuda:-1"); }, {"cuda:-1"}));
  EXPECT_TRUE(throws_error_with([] { gn::parse_device(""); }, {"bad device"}));
  EXPECT_EQ(gn::to_string(gn::cpu_device()), "cpu");
  EXPECT_EQ(gn::to_string(gn::cuda_device(1)), "cuda:1");
}

TEST(Device, CudaUnavailableIsAClearError) {
  if (gn::cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(gn::cuda_unavailable_reason().empty());
  EXPECT_TRUE(throws_error_with([] { gn::parse_device("cuda"); },
                                {"cuda", "CUDA is not available", gn::cuda_unavailable_reason()}));
  EXPECT_TRUE(throws_error_with([] { gn::parse_device("cuda:0"); }, {"CUDA is not available"}));
  EXPECT_TRUE(throws_error_with([] { Tensor::zeros({2}, DType::Float32, gn::cuda_device()); }, {"cuda:0"}));
}

}  // namespace
