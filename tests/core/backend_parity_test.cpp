// Backend parity: every op in core/ops.h, forward and backward, against a float64 CPU reference, on
// every backend present. One parameterised suite, instantiated for {cpu, cuda}:
//   cpu:  CPU float32 against CPU float64 (so the suite checks something real on every machine);
//   cuda: CUDA float32 (inputs moved with .to(cuda_device())) against CPU float64; skipped, with the
//         reason, when no CUDA device answers.
// Every output element and every gradient element is compared, with the tolerance derived in
// tests/core/backend_parity.h from float32's unit roundoff and the reduction length. Inputs come from a
// fresh seeded gn::Generator per test, are never zero (signs random, magnitudes in [0.2, 1.5] unless an
// op needs positive inputs) and are rounded to float32 before either side sees them, so both sides
// compute on identical numbers. Sizes are awkward on purpose: 1, 31, 32, 33, 1023 and 2^20 + 7
// elements for elementwise ops and reductions (block tails, a single element, more than one grid),
// smaller odd shapes for matmul, linear and cross-entropy, image shapes for the dense losses. Gradients
// are taken with gn::grad and a random seed (the vector of the vector-Jacobian product) so every
// gradient element is exercised.
//
// Unwritten outputs: ops allocate their own outputs, so a test cannot hand an op a NaN-filled output
// buffer ("poison" it) to prove that every element gets written. Second best, done below: the caching
// allocator keeps freed blocks in exact-size lists, so a NaN-filled block of the output's size freed
// just before the op runs is likely (not certain) to be the block the op is given; an element the
// kernel never writes then reads back as NaN and fails, rather than passing on a stale right answer.
#include <gtest/gtest.h>

#include "tests/core/backend_parity_case.h"
#include "tests/cuda_test_support.h"

namespace {

class BackendParity : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Cuda) GN_SKIP_WITHOUT_CUDA();
  }
  gn::Device device() const { return gn_parity::device_of(GetParam()); }
  void run(const Case& c) { check_case(c, device(), gen_); }
  gn::Generator gen_{0x9a71'7e57};  // fresh per test: every test draws the same numbers on every backend
};

// ---- elementwise unary ----

TEST_P(BackendParity, ElementwiseUnary) {
  struct Unary {
    const char* name;
    bool positive;  // log, sqrt and fractional powers need x > 0
    OpFn f;
  };
  const std::vector<Unary> ops = {
      {"neg", false, [](const TensorList& x) { return gn::neg(x[0]); }},
      {"exp", false, [](const TensorList& x) { return gn::exp(x[0]); }},
      {"log", true, [](const TensorList& x) { return gn::log(x[0]); }},
      {"sqrt", true, [](const TensorList& x) { return gn::sqrt(x[0]); }},
      {"abs", false, [](const TensorList& x) { return gn::abs(x[0]); }},
      {"pow(x, 2)", false, [](const TensorList& x) { return gn::pow(x[0], 2.0); }},
      {"pow(x, 3)", false, [](const TensorList& x) { return gn::pow(x[0], 3.0); }},
      {"pow(x, 0.5)", true, [](const TensorList& x) { return gn::pow(x[0], 0.5); }},
      {"pow(x, -1.5)", true, [](const TensorList& x) { return gn::pow(x[0], -1.5); }},
      {"relu", false, [](const TensorList& x) { return gn::relu(x[0]); }},
      {"tanh", false, [](const TensorList& x) { return gn::tanh(x[0]); }},
      {"sigmoid", false, [](const TensorList& x) { return gn::sigmoid(x[0]); }},
      {"operator- (unary)", false, [](const TensorList& x) { return -x[0]; }},
  };
  for (const std::int64_t n : kSizes)
    for (const Unary& op : ops) {
      const Shape s = n == 33 ? Shape{3, 11} : Shape{n};  // one 2-d shape among the sizes
      run(Case(std::string(op.name) + " " + shape_str(s),
               {op.positive ? positive_input(s, gen_) : signed_input(s, gen_)}, op.f));
    }
}

// ---- elementwise binary, with broadcasting, and the scalar forms ----

TEST_P(BackendParity, ElementwiseBinary) {
  struct Binary {
    const char* name;
    OpFn f;
    OpFn magnitude;  // the same sums with every term counted positive
  };
  const OpFn add = [](const TensorList& x) { return gn::add(x[0], x[1]); };
  const std::vector<Binary> ops = {
      {"add", add, add},
      {"sub", [](const TensorList& x) { return gn::sub(x[0], x[1]); }, add},
      {"mul", [](const TensorList& x) { return gn::mul(x[0], x[1]); }, nullptr},
      {"div", [](const TensorList& x) { return gn::div(x[0], x[1]); }, nullptr},
      {"operator+ operator* (composed)", [](const TensorList& x) { return (x[0] + x[1]) * x[1]; }, nullptr},
  };
  struct Layout {
    Shape a, b;
    std::int64_t len_a, len_b;  // reduction length of each operand's gradient (broadcast axes summed)
  };
  for (const std::int64_t n : kSizes) {
    const std::int64_t rows = n == kHuge ? 2 : 5;
    std::vector<Layout> layouts = {
        {{n}, {n}, 1, 1},           // same shape
        {{n}, {1}, 1, n},           // b broadcast to every element: its gradient sums n terms
        {{rows, n}, {n}, 1, rows},  // row broadcast
    };
    if (n != kHuge) layouts.push_back({{n, 1}, {1, 3}, 3, n});  // outer: both broadcast
    for (const Layout& l : layouts)
      for (const Binary& op : ops) {
        OpFn mag_f = op.magnitude ? op.magnitude : op.f;
        run(Case(std::string(op.name) + " " + shape_str(l.a) + " with " + shape_str(l.b),
                 {signed_input(l.a, gen_), signed_input(l.b, gen_, 0.5, 1.5)}, op.f)
                .grad_lens({l.len_a, l.len_b})
                .magnitude(abs_terms(mag_f)));
      }
    // Scalar forms. Where a sum can cancel (x + 0.3 with x near -0.3) the error scales with |x| + 0.3,
    // not with the result: abs_terms of the same expression gives exactly that magnitude.
    const Shape s{n};
    const OpFn add_scalar = [](const TensorList& x) { return gn::add(x[0], 0.3); };
    const OpFn operators = [](const TensorList& x) { return 2.5 * (x[0] - 0.5); };
    run(Case("add(x, 0.3) " + shape_str(s), {signed_input(s, gen_)}, add_scalar).magnitude(abs_terms(add_scalar)));
    run(Case("mul(x, -1.7) " + shape_str(s), {signed_input(s, gen_)},
             [](const TensorList& x) { return gn::mul(x[0], -1.7); }));
    run(Case("x - 0.5, 2.5 * x (operators) " + shape_str(s), {signed_input(s, gen_)}, operators)
            .magnitude(abs_terms([](const TensorList& x) { return 2.5 * (x[0] + 0.5); })));
  }
}

// ---- in place (not recorded by autograd: forward only) ----

TEST_P(BackendParity, InPlace) {
  struct InPlaceOp {
    const char* name;
    std::function<void(Tensor&, const Tensor&)> apply;
  };
  const std::vector<InPlaceOp> ops = {
      {"add_", [](Tensor& a, const Tensor& b) { gn::add_(a, b); }},
      {"axpy_(a, 0.37, b)", [](Tensor& a, const Tensor& b) { gn::axpy_(a, 0.37, b); }},
      {"scale_(a, -1.3)", [](Tensor& a, const Tensor&) { gn::scale_(a, -1.3); }},
  };
  for (const std::int64_t n : kSizes)
    for (const InPlaceOp& op : ops) {
      const Shape s{n};
      const Tensor a = signed_input(s, gen_), b = signed_input(s, gen_);
      // Each side applies the op to its own copy of a; the result is what a holds afterwards. The
      // magnitude (|a| + alpha |b|: a + alpha b can cancel) is the same op applied to |a| and |b|.
      const OpFn f = [&op](const TensorList& x) {
        Tensor target = x[0].detach().clone();
        op.apply(target, x[1].detach());
        return target;
      };
      run(Case(std::string(op.name) + " " + shape_str(s), {a, b}, f).grads_for({false, false}).magnitude(abs_terms(f)));
    }
}

// ---- reductions ----

TEST_P(BackendParity, Reductions) {
  for (const std::int64_t n : kSizes) {
    const Shape flat{n};
    const OpFn sum_all = [](const TensorList& x) { return gn::sum(x[0]); };
    const OpFn mean_all = [](const TensorList& x) { return gn::mean(x[0]); };
    run(Case("sum " + shape_str(flat), {signed_input(flat, gen_)}, sum_all)
            .reduce_len(n)
            .magnitude(abs_terms(sum_all)));
    run(Case("mean " + shape_str(flat), {signed_input(flat, gen_)}, mean_all)
            .reduce_len(n)
            .magnitude(abs_terms(mean_all)));

    // Along one axis: the reduced axis first (strided), last (contiguous) and in the middle.
    const std::int64_t small = n == kHuge ? 2 : 3;
    struct AxisCase {
      Shape shape;
      std::int64_t axis;
    };
    std::vector<AxisCase> axis_cases = {{{n, small}, 0}, {{small, n}, 1}, {{small, n}, -2}};
    if (n != kHuge) axis_cases.push_back({{4, n, 3}, 1});
    for (const AxisCase& ac : axis_cases)
      for (const bool keepdim : {false, true}) {
        const std::int64_t ax = ac.axis < 0 ? ac.axis + static_cast<std::int64_t>(ac.shape.size()) : ac.axis;
        const std::int64_t len = ac.shape[static_cast<std::size_t>(ax)];
        const OpFn s = [a = ac.axis, keepdim](const TensorList& x) { return gn::sum(x[0], a, keepdim); };
        const OpFn m = [a = ac.axis, keepdim](const TensorList& x) { return gn::mean(x[0], a, keepdim); };
        const std::string where =
            shape_str(ac.shape) + " axis " + std::to_string(ac.axis) + (keepdim ? " keepdim" : "");
        run(Case("sum " + where, {signed_input(ac.shape, gen_)}, s).reduce_len(len).magnitude(abs_terms(s)));
        run(Case("mean " + where, {signed_input(ac.shape, gen_)}, m).reduce_len(len).magnitude(abs_terms(m)));
      }
  }
}

// ---- shape ops (copies and views: exact on any backend, compared with the same tolerance) ----

TEST_P(BackendParity, ShapeOps) {
  for (const std::int64_t n : kSizes) {
    const Shape s{n, 3};
    run(Case("reshape " + shape_str(s) + " to (-1)", {signed_input(s, gen_)},
             [](const TensorList& x) { return gn::reshape(x[0], {-1}); }));
    run(Case("reshape " + shape_str(s) + " to (3, -1), then tanh", {signed_input(s, gen_)}, [](const TensorList& x) {
      return gn::tanh(gn::reshape(x[0], {3, -1}));
    }));
    run(Case("Tensor::reshape, Tensor::slice " + shape_str(s), {signed_input(s, gen_)},
             [n](const TensorList& x) { return gn::mul(x[0].slice(n / 2, n).reshape({-1}), 3.0); }));
    run(Case("slice " + shape_str(s) + " rows [n/3, n)", {signed_input(s, gen_)},
             [n](const TensorList& x) { return gn::slice(x[0], n / 3, n); }));
    run(Case("transpose " + shape_str(s) + " 0 1", {signed_input(s, gen_)},
             [](const TensorList& x) { return gn::transpose(x[0], 0, 1); }));
    if (n != kHuge)
      run(Case("transpose (2, n, 3) 0 2 with n = " + std::to_string(n), {signed_input({2, n, 3}, gen_)},
               [](const TensorList& x) { return gn::transpose(x[0], 0, -1); }));
    if (n == kHuge) continue;  // concat and split copy rows like slice: the smaller sizes cover their tails
    for (const std::int64_t axis : {0, 1}) {
      const Shape s2 = axis == 0 ? Shape{2, 3} : Shape{n, 2};
      run(Case("concat " + shape_str(s) + ", " + shape_str(s2) + ", " + shape_str(s) + " axis " + std::to_string(axis),
               {signed_input(s, gen_), signed_input(s2, gen_), signed_input(s, gen_)},
               [axis](const TensorList& x) { return gn::concat(x, axis); }));
    }
    // split: each part on its own (an op case has one output), gradients flow back to the whole.
    const std::int64_t first = n / 2;
    const std::vector<std::int64_t> rows = {first, n - first};
    for (std::size_t part = 0; part < rows.size(); ++part)
      run(Case("split " + shape_str(s) + " axis 0, part " + std::to_string(part), {signed_input(s, gen_)},
               [rows, part](const TensorList& x) { return gn::split(x[0], rows, 0)[part]; }));
    const std::vector<std::int64_t> cols = {1, 2};
    for (std::size_t part = 0; part < cols.size(); ++part)
      run(Case("split " + shape_str(s) + " axis 1, part " + std::to_string(part), {signed_input(s, gen_)},
               [cols, part](const TensorList& x) { return gn::split(x[0], cols, 1)[part]; }));
  }
}

// ---- linear algebra ----

TEST_P(BackendParity, Matmul) {
  struct Mkn {
    std::int64_t m, k, n;
  };
  const OpFn mm = [](const TensorList& x) { return gn::matmul(x[0], x[1]); };
  for (const Mkn d : {Mkn{1, 1, 1}, Mkn{1, 33, 1}, Mkn{31, 32, 33}, Mkn{33, 1023, 31}, Mkn{64, 65, 63},
                      Mkn{128, 257, 7}, Mkn{1, 31, 1023}})
    run(Case("matmul (" + std::to_string(d.m) + ", " + std::to_string(d.k) + ") @ (" + std::to_string(d.k) + ", " +
                 std::to_string(d.n) + ")",
             {signed_input({d.m, d.k}, gen_), signed_input({d.k, d.n}, gen_)}, mm)
            .reduce_len(d.k)
            .grad_lens({d.n, d.m})  // dA = G B^T sums over N, dB = A^T G sums over M
            .magnitude(abs_terms(mm)));
}

TEST_P(BackendParity, Linear) {
  struct Dims {
    std::int64_t batch, in, out;
  };
  const OpFn with_bias = [](const TensorList& x) { return gn::linear(x[0], x[1], x[2]); };
  const OpFn no_bias = [](const TensorList& x) { return gn::linear(x[0], x[1], Tensor()); };
  for (const Dims d : {Dims{1, 1, 1}, Dims{31, 33, 32}, Dims{33, 1023, 17}, Dims{7, 5, 128}, Dims{64, 31, 1}}) {
    const std::string dims = "x (" + std::to_string(d.batch) + ", " + std::to_string(d.in) + "), weight (" +
                             std::to_string(d.out) + ", " + std::to_string(d.in) + ")";
    // dx = G W sums over out; dW = G^T x and db sum over the batch.
    run(Case("linear " + dims + " with bias",
             {signed_input({d.batch, d.in}, gen_), signed_input({d.out, d.in}, gen_), signed_input({d.out}, gen_)},
             with_bias)
            .reduce_len(d.in + 1)
            .grad_lens({d.out, d.batch, d.batch})
            .magnitude(abs_terms(with_bias)));
    run(Case("linear " + dims + " without bias",
             {signed_input({d.batch, d.in}, gen_), signed_input({d.out, d.in}, gen_)}, no_bias)
            .reduce_len(d.in)
            .grad_lens({d.out, d.batch})
            .magnitude(abs_terms(no_bias)));
  }
}

// ---- losses ----

TEST_P(BackendParity, MseLoss) {
  // Every term (p - t)^2 / n is >= 0, so M = |loss| is already the sum of |terms| (the default).
  for (const std::int64_t n : kSizes) {
    const Shape s = n == 32 ? Shape{4, 8} : Shape{n};
    run(Case("mse_loss " + shape_str(s), {signed_input(s, gen_), signed_input(s, gen_)},
             [](const TensorList& x) { return gn::mse_loss(x[0], x[1]); })
            .reduce_len(n)
            .grads_for({true, false}));  // the target needs no gradient
  }
}

// Cross-entropy's M, from the logits (layout (N, C, S...), channel axis 1): the loss sums, per counted
// position, lse - z_label, each computed to within a few u of |lse| + |z_label|; the gradient
// g (softmax - onehot) / count is accurate to a few u of |g| (softmax + onehot) / count.
MagnitudeFn cross_entropy_magnitudes(std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t ignore_index) {
  return [=](const TensorList& inputs, const Tensor& seed) {
    const std::vector<double> z = inputs[0].to_vector(), y = inputs[1].to_vector();
    const double g = std::abs(seed.item());
    std::vector<double> grad_mag(z.size(), 0.0);
    double out_mag = 0;
    std::int64_t count = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) {
        const auto label = static_cast<std::int64_t>(y[static_cast<std::size_t>(n * S + s)]);
        if (label == ignore_index) continue;
        ++count;
        auto at = [&](std::int64_t c) { return static_cast<std::size_t>((n * C + c) * S + s); };
        double mx = -std::numeric_limits<double>::infinity(), total = 0;
        for (std::int64_t c = 0; c < C; ++c) mx = std::max(mx, z[at(c)]);
        for (std::int64_t c = 0; c < C; ++c) total += std::exp(z[at(c)] - mx);
        out_mag += std::abs(mx + std::log(total)) + std::abs(z[at(label)]);
        for (std::int64_t c = 0; c < C; ++c) grad_mag[at(c)] = std::exp(z[at(c)] - mx) / total + (c == label ? 1 : 0);
      }
    Magnitudes m;
    const double inv = count > 0 ? 1.0 / static_cast<double>(count) : 0.0;
    for (auto& v : grad_mag) v *= g * inv;
    m.out = Tensor::scalar(out_mag * inv, DType::Float64);
    m.grads = {Tensor::from_vector(grad_mag, inputs[0].shape(), DType::Float64), Tensor()};
    return m;
  };
}

TEST_P(BackendParity, CrossEntropy) {
  struct CeCase {
    std::int64_t n, c;
    Shape spatial;
    std::int64_t ignore_index;
  };
  for (const CeCase& k : {CeCase{1, 2, {}, -100}, CeCase{31, 10, {}, -100}, CeCase{33, 3, {}, 1},
                          CeCase{4, 7, {5}, -100}, CeCase{2, 5, {3, 4}, 0}, CeCase{64, 33, {}, -100}}) {
    Shape logits_shape{k.n, k.c}, label_shape{k.n};
    std::int64_t S = 1;
    for (const std::int64_t d : k.spatial) {
      logits_shape.push_back(d);
      label_shape.push_back(d);
      S *= d;
    }
    // Labels in [0, C) with about one position in eight set to ignore_index; the first always counts.
    std::vector<std::int64_t> labels(static_cast<std::size_t>(k.n * S));
    for (std::size_t i = 0; i < labels.size(); ++i) {
      labels[i] = static_cast<std::int64_t>(gen_.next_u64() % static_cast<std::uint64_t>(k.c));
      if (i > 0 && gen_.uniform() < 0.125) labels[i] = k.ignore_index;
    }
    if (labels[0] == k.ignore_index) labels[0] = k.ignore_index == 0 ? 1 : 0;
    const std::int64_t ignore = k.ignore_index;
    run(Case("cross_entropy logits " + shape_str(logits_shape) + " ignore_index " + std::to_string(ignore),
             {signed_input(logits_shape, gen_, 0.2, 3.0), Tensor::from_labels(labels, label_shape)},
             [ignore](const TensorList& x) { return gn::cross_entropy(x[0], x[1], ignore); })
            .reduce_len(k.n * S * k.c)
            .grad_lens({k.c, 1})
            .magnitude(cross_entropy_magnitudes(k.n, k.c, S, ignore)));
  }
}

// ---- dense-prediction losses (core/ops_dense_loss.h) ----
// Targets carry invalid pixels (depth 0 or negative, all-zero normals); the largest shapes cover many
// reduction blocks with a ragged tail. The nearest resize of targets is a copy: compared exactly.

const std::vector<Shape> kDepthShapes = {{1, 1, 1, 1}, {2, 1, 33, 31}, {3, 1, 17, 64}, {3, 1, 512, 700}};
const std::vector<Shape> kNormalShapes = {{1, 3, 1, 1}, {2, 3, 17, 13}, {1, 3, 31, 33}, {2, 3, 512, 600}};

// Depth in [0.2, 2) with about a quarter invalid (0, or negative: both fail t > 0); the first is valid.
Tensor depth_target(const Shape& s, gn::Generator& gen) {
  std::vector<double> v = positive_input(s, gen).to_vector();
  for (std::size_t i = 1; i < v.size(); ++i) {
    const double u = gen.uniform();
    if (u < 0.15) v[i] = 0;
    if (u > 0.9) v[i] = -v[i];
  }
  return Tensor::from_vector(v, s, DType::Float64);
}

TEST_P(BackendParity, MaskedDepthLosses) {
  // Every term (p - t)^2 or |p - t| is >= 0, so M = |loss| is the sum of |terms| (the default); each
  // gradient element is one product (n = 1).
  for (const Shape& s : kDepthShapes) {
    const std::int64_t n = gn::numel(s);
    run(Case("masked_mse_loss " + shape_str(s), {signed_input(s, gen_), depth_target(s, gen_)},
             [](const TensorList& x) { return gn::masked_mse_loss(x[0], x[1]); })
            .reduce_len(n));
    run(Case("masked_l1_loss " + shape_str(s), {signed_input(s, gen_), depth_target(s, gen_)}, [](const TensorList& x) {
          return gn::masked_l1_loss(x[0], x[1]);
        }).reduce_len(n));
  }
}

TEST_P(BackendParity, NormalCosineLoss) {
  // Terms 1 - cos >= 0 (M = |loss|); the per-pixel math is double on every backend, so each gradient
  // element is accurate to its final rounding (n = 1). About a sixth of the target vectors are all zero.
  for (const Shape& s : kNormalShapes) {
    std::vector<double> t = signed_input(s, gen_).to_vector();
    const std::int64_t S = s[2] * s[3];
    for (std::int64_t n = 0; n < s[0]; ++n)
      for (std::int64_t px = 1; px < S; ++px)
        if (gen_.uniform() < 1.0 / 6)
          for (std::int64_t c = 0; c < 3; ++c) t[static_cast<std::size_t>((n * 3 + c) * S + px)] = 0;
    run(Case("normal_cosine_loss " + shape_str(s), {signed_input(s, gen_), Tensor::from_vector(t, s, DType::Float64)},
             [](const TensorList& x) { return gn::normal_cosine_loss(x[0], x[1]); })
            .reduce_len(s[0] * S)
            .grads_for({true, false}));  // the target gets no gradient
  }
}

// The resize is a copy: bit-identical on every backend, float and int64, up and down, odd ratios.
TEST_P(BackendParity, ResizeNearestIsExact) {
  const gn::Device dev = device();
  std::vector<std::int64_t> labels(2 * 13 * 11);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(gen_.next_u64() % 7) - 1;
  const Tensor lab = Tensor::from_labels(labels, {2, 13, 11});
  const Tensor img = signed_input({2, 3, 13, 11}, gen_).to(DType::Float32);
  for (const auto& [oh, ow] : {std::pair<std::int64_t, std::int64_t>{4, 3}, {6, 5}, {27, 23}, {13, 11}}) {
    SCOPED_TRACE(std::to_string(oh) + "x" + std::to_string(ow));
    EXPECT_EQ(gn::resize_nearest2d(lab.to(dev), oh, ow).to_vector(), gn::resize_nearest2d(lab, oh, ow).to_vector());
    EXPECT_EQ(gn::resize_nearest2d(img.to(dev), oh, ow).to_vector(), gn::upsample_nearest2d(img, oh, ow).to_vector());
  }
}

// ---- reproducibility: the same reduction twice gives the same bits ----

TEST_P(BackendParity, ReductionsAreBitwiseReproducible) {
  const gn::Device dev = device();
  auto bits = [](const Tensor& t) {
    std::vector<std::uint64_t> b;
    for (const double v : t.to_vector()) b.push_back(std::bit_cast<std::uint64_t>(v));
    return b;
  };
  auto twice = [&](const std::string& what, const std::function<Tensor()>& op) {
    SCOPED_TRACE(what);
    try {
      const Tensor first = op();
      poison_next_allocations(first.shape(), dev);
      const Tensor second = op();
      EXPECT_EQ(bits(first), bits(second)) << what << " differs between two runs on " << gn::to_string(dev);
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << " on " << gn::to_string(dev) << " threw: " << e.what();
    }
  };
  const Tensor x = signed_input({kHuge}, gen_).to(DType::Float32).to(dev);
  const Tensor m = signed_input({1023, 1025}, gen_).to(DType::Float32).to(dev);
  const Tensor a = signed_input({65, 1023}, gen_).to(DType::Float32).to(dev);
  const Tensor b = signed_input({1023, 33}, gen_).to(DType::Float32).to(dev);
  twice("sum of 2^20 + 7", [&] { return gn::sum(x); });
  twice("mean of 2^20 + 7", [&] { return gn::mean(x); });
  twice("sum (1023, 1025) axis 0", [&] { return gn::sum(m, 0); });
  twice("sum (1023, 1025) axis 1", [&] { return gn::sum(m, 1); });
  twice("matmul (65, 1023) @ (1023, 33)", [&] { return gn::matmul(a, b); });
  twice("gradient of sum((m * m)) wrt m", [&] {
    Tensor leaf = m.detach();
    leaf.set_requires_grad(true);
    const Tensor loss = gn::sum(gn::mul(leaf, leaf));
    return gn::grad(TensorList{loss}, TensorList{leaf})[0];
  });
}

// ---- the comparison itself must be able to fail ----

TEST(BackendParityHelper, RejectsWrongDroppedAndNanElements) {
  const std::vector<double> ref = {1.0, -2.0, 3.0, 0.5};
  EXPECT_TRUE(gn_parity::parity_close("same", ref, ref, {}, 1));
  // One float32 rounding of each element passes.
  std::vector<double> rounded;
  for (const double r : ref) rounded.push_back(static_cast<float>(r * (1 + 1e-7)));
  EXPECT_TRUE(gn_parity::parity_close("rounded", rounded, ref, {}, 1));
  // A relative error of 1e-4 in one element fails, and so does a NaN.
  std::vector<double> off = ref;
  off[2] *= 1 + 1e-4;
  EXPECT_FALSE(gn_parity::parity_close("off", off, ref, {}, 1));
  std::vector<double> nan = ref;
  nan[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(gn_parity::parity_close("nan", nan, ref, {}, 1));
  EXPECT_FALSE(gn_parity::parity_close("short", {1.0, -2.0, 3.0}, ref, {}, 1));
  // A sum of 33 terms of magnitude ~1 that dropped one term is caught even with the summation bound.
  const double sum_abs = 33 * 0.85;
  EXPECT_FALSE(gn_parity::parity_close("dropped", {10.0 - 0.2}, {10.0}, {sum_abs}, 33));
  EXPECT_TRUE(gn_parity::parity_close("sum rounding", {10.0 + 1e-5}, {10.0}, {sum_abs}, 33));
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendParity, ::testing::Values(Backend::Cpu, Backend::Cuda),
                         gn_parity::backend_name);

}  // namespace
