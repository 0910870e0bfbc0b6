// The pooling, unpooling, upsampling and batch-norm ops on CUDA against the CPU (float64 reference): forward
// values, max-pool indices, running statistics and every input gradient, for CUDA float32 and float64, at
// awkward shapes (odd sizes, stride 2, padding, batch 1 and 3, several reduction chunks per channel); and the
// CUDA results bit-identical across two runs (no float atomics). Skips, visibly, without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "core/autograd.h"
#include "core/ops.h"
#include "tests/core/gradcheck.h"
#include "tests/cuda_test_support.h"

namespace {

using gn::Device;
using gn::DType;
using gn::Shape;
using gn::Tensor;
using V = std::vector<Tensor>;
using Vec = std::vector<double>;

// Distinct values 0.05 apart (exact in float32 for these sizes): no ties in any max-pool window.
Tensor distinct(const Shape& s, gn::Generator& gen) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(perm[i], perm[std::min(i, static_cast<std::int64_t>(gen.uniform() * static_cast<double>(i + 1)))]);
  Vec v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[i] = 0.05 * static_cast<double>(perm[i] - n / 2);
  return Tensor::from_vector(v, s, DType::Float64);
}

struct Run {
  std::vector<Vec> outputs;  // every output of f (int64 outputs included, as doubles)
  std::vector<Vec> grads;    // d sum(outputs[0] * R) / d each floating input
  std::vector<Vec> extra;    // tensors f left in `state` after running (running statistics)
};

// f(inputs, state) on device d in dtype dt; inputs are float64 CPU tensors (int64 passed through).
using Fn = std::function<V(const V& inputs, V& state)>;
Run run(const Fn& f, const V& inputs, const V& state0, Device d, DType dt) {
  V xs, state;
  for (const auto& t : inputs) {
    Tensor x = gn::is_floating(t.dtype()) ? t.to(dt).to(d) : t.to(d);
    if (gn::is_floating(t.dtype())) x.set_requires_grad();
    xs.push_back(x);
  }
  for (const auto& t : state0) state.push_back(t.to(dt).to(d));
  const V outs = f(xs, state);
  gn::Generator gen(99);
  const Tensor r = Tensor::uniform(outs[0].shape(), gen, -1, 1, DType::Float64).to(dt).to(d);
  gn::backward(gn::sum(gn::mul(outs[0], r)));
  Run result;
  for (const auto& o : outs) result.outputs.push_back(o.to_vector());
  for (const auto& x : xs)
    if (x.requires_grad()) result.grads.push_back(x.grad().to_vector());
  for (const auto& t : state) result.extra.push_back(t.to_vector());
  return result;
}

void expect_close(const std::vector<Vec>& got, const std::vector<Vec>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t k = 0; k < got.size(); ++k) {
    double scale = 1;
    for (double w : want[k]) scale = std::max(scale, std::abs(w));
    EXPECT_TRUE(gn_test::all_close(got[k], want[k], tol * scale, tol)) << what << " #" << k;
  }
}

void expect_bits(const std::vector<Vec>& a, const std::vector<Vec>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k], b[k]) << what << " #" << k << " differs between runs";
}

// CUDA float32 and float64 against the CPU in float64; CUDA twice for determinism.
void check_parity(const Fn& f, const V& inputs, const V& state, const std::string& what, double tol32 = 2e-5) {
  const Run ref = run(f, inputs, state, gn::cpu_device(), DType::Float64);
  for (DType dt : {DType::Float64, DType::Float32}) {
    const double tol = dt == DType::Float64 ? 1e-11 : tol32;
    const std::string name = what + " " + std::string(gn::dtype_name(dt));
    const Run a = run(f, inputs, state, gn::cuda_device(), dt);
    expect_close(a.outputs, ref.outputs, tol, name + " outputs");
    expect_close(a.grads, ref.grads, tol, name + " grads");
    expect_close(a.extra, ref.extra, tol, name + " state");
    const Run b = run(f, inputs, state, gn::cuda_device(), dt);
    expect_bits(a.outputs, b.outputs, name + " outputs");
    expect_bits(a.grads, b.grads, name + " grads");
  }
}

TEST(PoolCuda, MaxPoolValuesIndicesAndGradient) {
  GN_SKIP_WITHOUT_CUDA();
  gn::Generator gen(1);
  struct Case {
    Shape s;
    gn::Size2 k, st, p;
  };
  for (const auto& c : std::vector<Case>{{{1, 1, 5, 7}, 3, 2, 1},
                                         {{3, 2, 6, 5}, 2, 2, 0},
                                         {{3, 4, 33, 31}, 3, 2, 1},
                                         {{2, 3, 9, 8}, {3, 2}, {1, 2}, {1, 0}},
                                         {{1, 2, 17, 19}, 3, 1, 1}}) {
    check_parity(
        [&](const V& x, V&) {
          const auto r = gn::max_pool2d_with_indices(x[0], c.k, c.st, c.p);
          return V{r.values, r.indices};
        },
        {distinct(c.s, gen)}, {}, "max_pool2d " + gn::to_string(c.s));
  }
}

TEST(PoolCuda, MaxUnpool) {
  GN_SKIP_WITHOUT_CUDA();
  gn::Generator gen(2);
  for (const auto& s : std::vector<Shape>{{1, 2, 5, 7}, {3, 3, 32, 33}}) {
    const auto r = gn::max_pool2d_with_indices(distinct(s, gen), 2, 2);
    check_parity([&](const V& x, V&) { return V{gn::max_unpool2d(x[0], x[1], s[2], s[3])}; },
                 {gn_test::uniform(r.values.shape(), gen), r.indices}, {}, "max_unpool2d " + gn::to_string(s));
  }
}

TEST(PoolCuda, Upsample) {
  GN_SKIP_WITHOUT_CUDA();
  gn::Generator gen(3);
  const std::vector<std::pair<Shape, std::pair<int, int>>> cases = {
      {{1, 2, 3, 5}, {7, 4}}, {{3, 1, 2, 2}, {3, 5}}, {{1, 1, 5, 7}, {3, 4}}, {{2, 3, 17, 15}, {64, 61}}};
  for (const auto& [s, o] : cases) {
    const int oh = o.first, ow = o.second;
    const Tensor x = gn_test::uniform(s, gen);
    check_parity([&](const V& v, V&) { return V{gn::upsample_nearest2d(v[0], oh, ow)}; }, {x}, {},
                 "nearest " + gn::to_string(s));
    for (bool ac : {true, false})
      check_parity([&](const V& v, V&) { return V{gn::upsample_bilinear2d(v[0], oh, ow, ac)}; }, {x}, {},
                   "bilinear " + gn::to_string(s) + (ac ? " align_corners" : ""));
  }
}

TEST(PoolCuda, BatchNormTrainAndEval) {
  GN_SKIP_WITHOUT_CUDA();
  gn::Generator gen(4);
  for (const auto& s : std::vector<Shape>{{3, 2, 3, 5}, {1, 3, 5, 3}, {8, 3, 33, 35}, {5, 4}}) {
    const std::int64_t C = s[1];
    const Tensor x = gn_test::uniform(s, gen, -2, 3), w = gn_test::uniform({C}, gen, 0.5, 1.5),
                 b = gn_test::uniform({C}, gen);
    const V state{gn_test::uniform({C}, gen), gn_test::uniform({C}, gen, 0.5, 2)};
    for (bool training : {true, false}) {
      check_parity(
          [&](const V& v, V& st) { return V{gn::batch_norm(v[0], st[0], st[1], v[1], v[2], training, 0.1, 1e-5)}; },
          {x, w, b}, state, std::string("batch_norm ") + (training ? "train " : "eval ") + gn::to_string(s));
    }
    check_parity([&](const V& v, V&) { return V{gn::batch_norm(v[0], {}, {}, {}, {}, true)}; }, {x}, {},
                 "batch_norm plain " + gn::to_string(s));
  }
}

}  // namespace
