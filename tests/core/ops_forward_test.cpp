// Forward values of every op family against naive loops in double, for float32 and float64.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/autograd.h"
#include "core/ops.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using gn_test::all_close;
using Vec = std::vector<double>;

// Float32 results are one rounding (a few ulp for transcendental functions) off the double reference.
double atol_of(DType d) { return d == DType::Float32 ? 1e-6 : 1e-13; }
double rtol_of(DType d) { return d == DType::Float32 ? 4e-6 : 1e-13; }

// Index of out-element `i` in an operand of shape `in`, broadcast (numpy rules) to `out`.
std::int64_t broadcast_index(std::int64_t i, const Shape& out, const Shape& in) {
  std::int64_t idx = 0, stride = 1;
  for (std::size_t k = 0; k < in.size(); ++k) {
    const std::size_t ik = in.size() - 1 - k, ok = out.size() - 1 - k;
    std::int64_t out_stride = 1;
    for (std::size_t j = ok + 1; j < out.size(); ++j) out_stride *= out[j];
    const std::int64_t coord = (i / out_stride) % out[ok];
    if (in[ik] != 1) idx += coord * stride;
    stride *= in[ik];
  }
  return idx;
}

class Forward : public ::testing::TestWithParam<DType> {
 protected:
  DType dt() const { return GetParam(); }
  double atol() const { return atol_of(dt()); }
  double rtol() const { return rtol_of(dt()); }
  gn::Generator gen{123};
  Tensor rand(const Shape& s, double lo = -2, double hi = 2) { return Tensor::uniform(s, gen, lo, hi, dt()); }
};

TEST_P(Forward, BinaryBroadcast) {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {3, 4}, {3, 4}},       {{5, 3}, {3}, {5, 3}},          {{5, 3}, {1, 3}, {5, 3}},
      {{3, 1, 4}, {2, 4}, {3, 2, 4}}, {{2, 4}, {3, 1, 4}, {3, 2, 4}}, {{4, 1}, {1, 5}, {4, 5}},
      {{2, 3}, {}, {2, 3}},           {{}, {2, 3}, {2, 3}},           {{2, 1, 3}, {4, 1}, {2, 4, 3}},
      {{3}, {2, 3}, {2, 3}},          {{5, 1}, {5, 1}, {5, 1}},       {{}, {}, {}},
  };
  using Op = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::pair<Op, std::function<double(double, double)>>> ops = {
      {[](auto& a, auto& b) { return gn::add(a, b); }, std::plus<double>()},
      {[](auto& a, auto& b) { return gn::sub(a, b); }, std::minus<double>()},
      {[](auto& a, auto& b) { return gn::mul(a, b); }, std::multiplies<double>()},
      {[](auto& a, auto& b) { return gn::div(a, b); }, std::divides<double>()},
      {[](auto& a, auto& b) { return a + b; }, std::plus<double>()},
      {[](auto& a, auto& b) { return a * b; }, std::multiplies<double>()},
  };
  for (const auto& c : cases)
    for (std::size_t o = 0; o < ops.size(); ++o) {
      SCOPED_TRACE(::testing::Message() << gn::to_string(c.a) << " op" << o << " " << gn::to_string(c.b));
      const Tensor a = rand(c.a), b = gn_test::away_from_zero(c.b, gen, 0.5, 2, dt());
      const Tensor y = ops[o].first(a, b);
      ASSERT_EQ(y.shape(), c.out);
      ASSERT_EQ(y.dtype(), dt());
      const Vec av = a.to_vector(), bv = b.to_vector();
      Vec ref(static_cast<std::size_t>(gn::numel(c.out)));
      for (std::int64_t i = 0; i < gn::numel(c.out); ++i)
        ref[i] = ops[o].second(av[broadcast_index(i, c.out, c.a)], bv[broadcast_index(i, c.out, c.b)]);
      EXPECT_TRUE(all_close(y, ref, atol(), rtol()));
    }
}

TEST_P(Forward, ScalarOperands) {
  const Tensor a = rand({3, 5});
  const Vec av = a.to_vector();
  auto ref = [&](auto f) {
    Vec r;
    for (double v : av) r.push_back(f(v));
    return r;
  };
  EXPECT_TRUE(all_close(gn::add(a, 2.5), ref([](double v) { return v + 2.5; }), atol(), rtol()));
  EXPECT_TRUE(all_close(a - 0.75, ref([](double v) { return v - 0.75; }), atol(), rtol()));
  EXPECT_TRUE(all_close(gn::mul(a, -3.0), ref([](double v) { return v * -3.0; }), atol(), rtol()));
  EXPECT_TRUE(all_close(0.5 * a, ref([](double v) { return 0.5 * v; }), atol(), rtol()));
  EXPECT_TRUE(all_close(-a, ref([](double v) { return -v; }), 0, 0));
}

TEST_P(Forward, Unary) {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    std::function<double(double)> ref;
    double lo, hi;
  };
  const std::vector<Case> cases = {
      {"neg", [](auto& x) { return gn::neg(x); }, [](double v) { return -v; }, -3, 3},
      {"exp", [](auto& x) { return gn::exp(x); }, [](double v) { return std::exp(v); }, -3, 3},
      {"log", [](auto& x) { return gn::log(x); }, [](double v) { return std::log(v); }, 0.1, 5},
      {"sqrt", [](auto& x) { return gn::sqrt(x); }, [](double v) { return std::sqrt(v); }, 0.0, 5},
      {"abs", [](auto& x) { return gn::abs(x); }, [](double v) { return std::abs(v); }, -3, 3},
      {"pow3", [](auto& x) { return gn::pow(x, 3.0); }, [](double v) { return v * v * v; }, -2, 2},
      {"pow0.5", [](auto& x) { return gn::pow(x, 0.5); }, [](double v) { return std::sqrt(v); }, 0.1, 4},
      {"pow-2", [](auto& x) { return gn::pow(x, -2.0); }, [](double v) { return 1 / (v * v); }, 0.5, 3},
      {"relu", [](auto& x) { return gn::relu(x); }, [](double v) { return v > 0 ? v : 0.0; }, -3, 3},
      {"tanh", [](auto& x) { return gn::tanh(x); }, [](double v) { return std::tanh(v); }, -4, 4},
      {"sigmoid", [](auto& x) { return gn::sigmoid(x); }, [](double v) { return 1 / (1 + std::exp(-v)); }, -8, 8},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor x = rand({4, 7}, c.lo, c.hi);
    const Tensor y = c.op(x);
    ASSERT_EQ(y.shape(), x.shape());
    Vec ref;
    for (double v : x.to_vector()) ref.push_back(c.ref(v));
    EXPECT_TRUE(all_close(y, ref, atol(), rtol()));
  }
  // Exact values at special points.
  const Vec special = {-2, 0, 3};
  const Tensor s = Tensor::from_vector(special, {3}, dt());
  EXPECT_EQ(gn::relu(s).to_vector(), (Vec{0, 0, 3}));
  EXPECT_EQ(gn::abs(s).to_vector(), (Vec{2, 0, 3}));
  EXPECT_EQ(gn::sigmoid(s).to_vector()[1], 0.5);
  EXPECT_EQ(gn::tanh(s).to_vector()[1], 0.0);
}

// Naive sum over `axis` of a contiguous (d0, d1, d2) array.
Vec naive_sum3(const Vec& x, const Shape& s, int axis, double scale) {
  Shape out_s = s;
  out_s[axis] = 1;
  Vec out(static_cast<std::size_t>(gn::numel(out_s)), 0.0);
  for (std::int64_t i = 0; i < s[0]; ++i)
    for (std::int64_t j = 0; j < s[1]; ++j)
      for (std::int64_t k = 0; k < s[2]; ++k) {
        const std::int64_t oi = axis == 0 ? 0 : i, oj = axis == 1 ? 0 : j, ok = axis == 2 ? 0 : k;
        out[(oi * out_s[1] + oj) * out_s[2] + ok] += x[(i * s[1] + j) * s[2] + k] * scale;
      }
  return out;
}

TEST_P(Forward, SumAndMean) {
  const Shape s = {3, 4, 5};
  const Tensor x = rand(s);
  const Vec xv = x.to_vector();
  double total = 0;
  for (double v : xv) total += v;
  const Tensor sa = gn::sum(x), ma = gn::mean(x);
  EXPECT_EQ(sa.shape(), Shape{});
  EXPECT_NEAR(sa.item(), total, atol() + rtol() * 60);
  EXPECT_NEAR(ma.item(), total / 60, atol() + rtol());
  for (int axis = 0; axis < 3; ++axis)
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "axis " << axis << " keepdim " << keepdim);
      Shape expect = s;
      if (keepdim)
        expect[axis] = 1;
      else
        expect.erase(expect.begin() + axis);
      const Tensor sm = gn::sum(x, axis, keepdim), mn = gn::mean(x, axis, keepdim);
      ASSERT_EQ(sm.shape(), expect);
      ASSERT_EQ(mn.shape(), expect);
      EXPECT_TRUE(all_close(sm, naive_sum3(xv, s, axis, 1.0), atol() * 10, rtol()));
      EXPECT_TRUE(all_close(mn, naive_sum3(xv, s, axis, 1.0 / static_cast<double>(s[axis])), atol(), rtol()));
      // Negative axes name the same axis.
      EXPECT_EQ(gn::sum(x, axis - 3, keepdim).to_vector(), sm.to_vector());
    }
  // 1-d: reducing the only axis gives a 0-d tensor.
  const Tensor v = Tensor::from_vector(Vec{1, 2, 3, 4}, {4}, dt());
  EXPECT_EQ(gn::sum(v, 0).shape(), Shape{});
  EXPECT_EQ(gn::sum(v, 0).item(), 10.0);
  EXPECT_EQ(gn::mean(v, -1, true).shape(), Shape{1});
  EXPECT_EQ(gn::mean(v, -1, true).item(), 2.5);
}

TEST_P(Forward, SumOfManyElementsAccumulatesInDouble) {
  // 1e5 values of 0.1 (rounded to dt): a float32 running sum would be off by ~1e-3 relative.
  const std::int64_t n = 100003;
  const Tensor x = Tensor::full({n}, 0.1, dt());
  const double v = x.to_vector()[0];
  EXPECT_NEAR(gn::sum(x).item(), v * n, v * n * rtol());
  EXPECT_NEAR(gn::mean(x).item(), v, v * rtol());
  EXPECT_NEAR(gn::sum(x.reshape({1, n}), 1).item(), v * n, v * n * rtol());
}

TEST_P(Forward, ReshapeSliceTranspose) {
  const Tensor x = rand({2, 3, 4});
  const Vec xv = x.to_vector();
  EXPECT_EQ(gn::reshape(x, {4, -1}).shape(), (Shape{4, 6}));
  EXPECT_EQ(gn::reshape(x, {4, -1}).to_vector(), xv);
  EXPECT_EQ(x.reshape({24}).to_vector(), xv);
  const Tensor s = gn::slice(x, 1, 2);
  EXPECT_EQ(s.shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(s.to_vector(), Vec(xv.begin() + 12, xv.end()));
  EXPECT_EQ(gn::slice(x, 1, 1).numel(), 0);
  // transpose(0, 2): out[k, j, i] = x[i, j, k].
  const Tensor t = gn::transpose(x, 0, 2);
  ASSERT_EQ(t.shape(), (Shape{4, 3, 2}));
  const Vec tv = t.to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(tv[(k * 3 + j) * 2 + i], xv[(i * 3 + j) * 4 + k]);
  // transpose(1, 2) and (-1, 0): out[i, k, j] = x[i, j, k].
  const Vec t12 = gn::transpose(x, 1, -1).to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(t12[(i * 4 + k) * 3 + j], xv[(i * 3 + j) * 4 + k]);
  // Transposing a slice (a view with an offset) reads the view, not the storage start.
  const Tensor m = rand({4, 3});
  const Vec mv = m.to_vector();
  const Vec st = gn::transpose(m.slice(2, 4), 0, 1).to_vector();
  EXPECT_EQ(st, (Vec{mv[6], mv[9], mv[7], mv[10], mv[8], mv[11]}));
}

TEST_P(Forward, ConcatAndSplit) {
  const Tensor a = rand({2, 3}), b = rand({2, 1}), c = rand({1, 3});
  const Vec av = a.to_vector(), bv = b.to_vector(), cv = c.to_vector();
  const Tensor ab[] = {a, b};
  const Tensor cat1 = gn::concat(ab, 1);
  ASSERT_EQ(cat1.shape(), (Shape{2, 4}));
  EXPECT_EQ(cat1.to_vector(), (Vec{av[0], av[1], av[2], bv[0], av[3], av[4], av[5], bv[1]}));
  const Tensor ac[] = {a, c};
  const Tensor cat0 = gn::concat(ac, 0);
  ASSERT_EQ(cat0.shape(), (Shape{3, 3}));
  EXPECT_EQ(cat0.to_vector(), (Vec{av[0], av[1], av[2], av[3], av[4], av[5], cv[0], cv[1], cv[2]}));

  // split undoes concat along either axis.
  const std::int64_t s1[] = {3, 1};
  const auto parts1 = gn::split(cat1, s1, 1);
  ASSERT_EQ(parts1.size(), 2u);
  EXPECT_EQ(parts1[0].to_vector(), av);
  EXPECT_EQ(parts1[1].to_vector(), bv);
  EXPECT_EQ(parts1[1].shape(), (Shape{2, 1}));
  const std::int64_t s0[] = {2, 1};
  const auto parts0 = gn::split(cat0, s0, -2);
  EXPECT_EQ(parts0[0].to_vector(), av);
  EXPECT_EQ(parts0[1].to_vector(), cv);
  // A 3-d split along the middle axis: piece k holds x[:, offset_k : offset_k + size_k, :].
  const Tensor x = rand({2, 5, 3});
  const Vec xv = x.to_vector();
  const std::int64_t s3[] = {2, 0, 3};
  const auto parts = gn::split(x, s3, 1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].shape(), (Shape{2, 0, 3}));
  const Vec p2 = parts[2].to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) EXPECT_EQ(p2[(i * 3 + j) * 3 + k], xv[(i * 5 + j + 2) * 3 + k]);
}

TEST_P(Forward, MatmulAndLinear) {
  const std::int64_t M = 5, K = 7, N = 3;
  const Tensor a = rand({M, K}), b = rand({K, N}), w = rand({N, K}), bias = rand({N});
  const Vec av = a.to_vector(), bv = b.to_vector(), wv = w.to_vector(), biasv = bias.to_vector();
  Vec mm(M * N, 0.0), lin(M * N, 0.0), lin_nb(M * N, 0.0);
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      for (std::int64_t k = 0; k < K; ++k) {
        mm[i * N + j] += av[i * K + k] * bv[k * N + j];
        lin_nb[i * N + j] += av[i * K + k] * wv[j * K + k];
      }
      lin[i * N + j] = lin_nb[i * N + j] + biasv[j];
    }
  const Tensor y = gn::matmul(a, b);
  ASSERT_EQ(y.shape(), (Shape{M, N}));
  // K products summed: allow K roundings of magnitude up to 4.
  const double tol = atol() * 4 * K, rt = rtol() * K;
  EXPECT_TRUE(all_close(y, mm, tol, rt));
  EXPECT_TRUE(all_close(gn::linear(a, w, bias), lin, tol, rt));
  EXPECT_TRUE(all_close(gn::linear(a, w, Tensor()), lin_nb, tol, rt));
}

TEST_P(Forward, MseLoss) {
  const Tensor p = rand({4, 6}), t = rand({4, 6});
  const Vec pv = p.to_vector(), tv = t.to_vector();
  double ref = 0;
  for (std::size_t i = 0; i < pv.size(); ++i) ref += (pv[i] - tv[i]) * (pv[i] - tv[i]);
  ref /= static_cast<double>(pv.size());
  const Tensor l = gn::mse_loss(p, t);
  EXPECT_EQ(l.shape(), Shape{});
  EXPECT_NEAR(l.item(), ref, atol() + rtol() * ref);
  EXPECT_EQ(gn::mse_loss(p, p).item(), 0.0);
}

// Naive cross-entropy over logits (N, C, S) and labels (N, S).
double naive_ce(const Vec& z, const std::vector<std::int64_t>& y, std::int64_t N, std::int64_t C, std::int64_t S,
                std::int64_t ignore) {
  double total = 0;
  int count = 0;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t s = 0; s < S; ++s) {
      const std::int64_t label = y[n * S + s];
      if (label == ignore) continue;
      double se = 0;
      for (std::int64_t c = 0; c < C; ++c) se += std::exp(z[(n * C + c) * S + s]);
      total += std::log(se) - z[(n * C + label) * S + s];
      ++count;
    }
  return count ? total / count : 0.0;
}

TEST_P(Forward, CrossEntropy) {
  const Tensor z = rand({5, 4}, -3, 3);
  const std::vector<std::int64_t> y = {0, 3, -100, 2, 1};
  const Tensor labels = Tensor::from_labels(y, {5});
  const double ref = naive_ce(z.to_vector(), y, 5, 4, 1, -100);
  EXPECT_NEAR(gn::cross_entropy(z, labels).item(), ref, atol() + rtol() * ref);
  // A custom ignore_index: -100 is now an error, 3 is skipped.
  const std::vector<std::int64_t> y2 = {0, 3, 1, 2, 3};
  EXPECT_NEAR(gn::cross_entropy(z, Tensor::from_labels(y2, {5}), 3).item(), naive_ce(z.to_vector(), y2, 5, 4, 1, 3),
              atol() + rtol() * ref);
  // Large logits: computed stably (no overflow to inf/nan).
  const Tensor big = Tensor::from_vector(Vec{1000, 0, -1000, 500}, {2, 2}, dt());
  const std::vector<std::int64_t> yb = {1, 0};
  EXPECT_NEAR(gn::cross_entropy(big, Tensor::from_labels(yb, {2})).item(), (1000.0 + 1500.0) / 2, 1e-9);
}

TEST_P(Forward, CrossEntropySpatial) {
  const std::int64_t N = 2, C = 3, H = 2, W = 3;
  const Tensor z = rand({N, C, H, W}, -3, 3);
  const std::vector<std::int64_t> y = {0, 2, -100, 1, 1, 0, 2, -100, -100, 0, 1, 2};
  const double ref = naive_ce(z.to_vector(), y, N, C, H * W, -100);
  EXPECT_NEAR(gn::cross_entropy(z, Tensor::from_labels(y, {N, H, W})).item(), ref, atol() + rtol() * ref);
}

TEST_P(Forward, CrossEntropyAllIgnoredIsZero) {
  Tensor z = rand({3, 4}).set_requires_grad();
  const std::vector<std::int64_t> y = {-100, -100, -100};
  const Tensor loss = gn::cross_entropy(z, Tensor::from_labels(y, {3}));
  EXPECT_EQ(loss.item(), 0.0);
  gn::backward(loss);
  EXPECT_EQ(z.grad().to_vector(), Vec(12, 0.0));
}

TEST_P(Forward, InPlace) {
  Tensor a = rand({2, 3});
  const Tensor b = rand({2, 3});
  const Vec av = a.to_vector(), bv = b.to_vector();
  Vec ref = av;
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = (av[i] + bv[i] + 0.5 * bv[i]) * 2;
  gn::add_(a, b);
  gn::axpy_(a, 0.5, b);
  gn::scale_(a, 2.0);
  EXPECT_TRUE(all_close(a, ref, atol() * 4, rtol() * 2));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Forward, ::testing::Values(DType::Float32, DType::Float64),
                         [](const auto& info) { return std::string(gn::dtype_name(info.param)); });

// Float32 runs of a small model agree with float64 runs to float32 accuracy (loss and gradients).
TEST(Float32VsFloat64, ModelLossAndGradients) {
  gn::Generator gen(7);
  const Tensor x64 = Tensor::randn({8, 5}, gen, 0, 1, DType::Float64);
  const Tensor w64 = Tensor::randn({4, 5}, gen, 0, 0.5, DType::Float64);
  const Tensor b64 = Tensor::randn({4}, gen, 0, 0.5, DType::Float64);
  const Tensor t64 = Tensor::randn({8, 4}, gen, 0, 1, DType::Float64);
  const std::vector<std::int64_t> y = {0, 1, 2, 3, 3, 2, -100, 0};
  const Tensor labels = Tensor::from_labels(y, {8});
  auto run = [&](DType d) {
    Tensor x = x64.to(d), w = w64.to(d).clone().set_requires_grad(), b = b64.to(d).clone().set_requires_grad();
    const Tensor h = gn::tanh(gn::linear(x, w, b));
    const Tensor loss =
        gn::add(gn::mse_loss(gn::sigmoid(h), t64.to(d)), gn::mul(gn::cross_entropy(gn::mul(h, 2.0), labels), 0.5));
    gn::backward(loss);
    Vec out = {loss.item()};
    for (const Tensor& g : {w.grad(), b.grad()})
      for (double v : g.to_vector()) out.push_back(v);
    return out;
  };
  const Vec r32 = run(DType::Float32), r64 = run(DType::Float64);
  EXPECT_TRUE(all_close(r32, r64, 1e-5, 1e-4));
  EXPECT_NE(r32, r64) << "float32 should not be computed in float64 by accident";
}

}  // namespace
