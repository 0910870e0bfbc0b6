#pragma once
// The op-case machinery of the backend parity suite (backend_parity_test.cpp): float32-exact inputs on
// the CPU, one op case run forward and backward on a device and compared element by element with the
// float64 CPU reference.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/device.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "tests/core/backend_parity.h"

namespace {

using gn::DType;
using gn::Shape;
using gn::Tensor;
using gn_parity::Backend;
using TensorList = std::vector<Tensor>;
using OpFn = std::function<Tensor(const TensorList&)>;

constexpr std::int64_t kHuge = (std::int64_t{1} << 20) + 7;
const std::vector<std::int64_t> kSizes = {1, 31, 32, 33, 1023, kHuge};

// ---- inputs: float64 on the CPU, holding values that float32 represents exactly ----

Tensor f32_values(const Tensor& x64) { return x64.to(DType::Float32).to(DType::Float64); }

// Random sign times a magnitude uniform in [lo, hi): never zero, away from the kinks of relu and abs.
[[maybe_unused]] Tensor signed_input(const Shape& s, gn::Generator& gen, double lo = 0.2, double hi = 1.5) {
  std::vector<double> v(static_cast<std::size_t>(gn::numel(s)));
  for (auto& e : v) {
    const double mag = lo + (hi - lo) * gen.uniform();
    e = gen.uniform() < 0.5 ? -mag : mag;
  }
  return f32_values(Tensor::from_vector(v, s, DType::Float64));
}

[[maybe_unused]] Tensor positive_input(const Shape& s, gn::Generator& gen, double lo = 0.2, double hi = 2.0) {
  return f32_values(Tensor::uniform(s, gen, lo, hi, DType::Float64));
}

std::string shape_str(const Shape& s) { return gn::to_string(s); }

// See the file comment: hand the op's next allocation of this shape a NaN-filled block, if the caching
// allocator cooperates. Two blocks, held together, so an intermediate of the same size does not take
// the only one.
void poison_next_allocations(const Shape& s, gn::Device dev) {
  const std::vector<double> nan(static_cast<std::size_t>(gn::numel(s)), std::numeric_limits<double>::quiet_NaN());
  const Tensor a = Tensor::from_vector(nan, s, DType::Float32, dev);
  const Tensor b = Tensor::from_vector(nan, s, DType::Float32, dev);
}

// ---- one op case ----

// M (the sum of |terms| behind each element, see backend_parity.h) for the output and each input's
// gradient; an undefined tensor means M = |reference|.
struct Magnitudes {
  Tensor out;
  TensorList grads;
};
using MagnitudeFn = std::function<Magnitudes(const TensorList& inputs, const Tensor& seed)>;

struct Case {
  Case(std::string name_, TensorList inputs_, OpFn f_)
      : name(std::move(name_)), inputs(std::move(inputs_)), f(std::move(f_)) {}
  Case& reduce_len(std::int64_t n) { return out_len = n, *this; }
  Case& grad_lens(std::vector<std::int64_t> n) { return grad_len = std::move(n), *this; }
  Case& grads_for(std::vector<bool> which) { return wants_grad = std::move(which), *this; }
  Case& magnitude(MagnitudeFn m) { return magnitudes = std::move(m), *this; }

  std::string name;
  TensorList inputs;                   // float64 on the CPU; int64 labels pass through as they are
  OpFn f;                              // the op under test, the same code on both sides
  std::int64_t out_len = 1;            // reduction length behind each output element
  std::vector<std::int64_t> grad_len;  // per input: reduction length behind each gradient element (default 1)
  std::vector<bool> wants_grad;        // per input (default: every floating input)
  MagnitudeFn magnitudes;              // default: M = |reference|
};

bool wants_grad(const Case& c, std::size_t i) {
  if (!gn::is_floating(c.inputs[i].dtype())) return false;
  return c.wants_grad.empty() || c.wants_grad[i];
}

std::vector<double> values_or_empty(const Tensor& t) { return t.defined() ? t.to_vector() : std::vector<double>{}; }

// For ops made of sums of products (sum, mean, broadcasting binary ops, matmul, linear): running `g` in
// float64 on |inputs|, and its backward on |seed|, adds up exactly the |terms| that the forward and the
// backward sum, i.e. M element by element. (For sub, g is add: |a| + |b|, not |a| - |b|.)
MagnitudeFn abs_terms(OpFn g) {
  return [g = std::move(g)](const TensorList& inputs, const Tensor& seed) {
    TensorList abs_in;
    std::vector<std::size_t> leaf_of;
    TensorList leaves;
    Tensor abs_seed;
    {
      gn::NoGradGuard no_grad;
      for (const Tensor& x : inputs) abs_in.push_back(gn::is_floating(x.dtype()) ? gn::abs(x) : x);
      abs_seed = gn::abs(seed);
    }
    for (std::size_t i = 0; i < abs_in.size(); ++i) {
      if (!gn::is_floating(abs_in[i].dtype())) continue;
      abs_in[i].set_requires_grad(true);
      leaf_of.push_back(i);
      leaves.push_back(abs_in[i]);
    }
    const Tensor out = g(abs_in);
    // In-place ops record no history: their output has no gradient to take.
    const TensorList grads =
        out.requires_grad() ? gn::grad(TensorList{out}, leaves, TensorList{abs_seed}) : TensorList(leaves.size());
    Magnitudes m;
    gn::NoGradGuard no_grad;
    m.out = gn::abs(out);
    m.grads.resize(inputs.size());
    for (std::size_t k = 0; k < leaves.size(); ++k)
      if (grads[k].defined()) m.grads[leaf_of[k]] = gn::abs(grads[k]);
    return m;
  };
}

// Checks one case on `dev`: forward, then the gradient of every input that wants one.
void check_case(const Case& c, gn::Device dev, gn::Generator& gen) {
  SCOPED_TRACE(c.name);
  try {
    TensorList ref_in, cand_in, ref_leaves, cand_leaves;
    std::vector<std::size_t> leaf_input;
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
      const Tensor& x = c.inputs[i];
      if (!gn::is_floating(x.dtype())) {
        ref_in.push_back(x);
        cand_in.push_back(x.to(dev));
        continue;
      }
      ASSERT_EQ(x.dtype(), DType::Float64) << c.name << ": inputs are given in float64";
      Tensor r = x.clone();
      Tensor k = x.to(DType::Float32).to(dev);  // exact: the values are float32 numbers already
      if (wants_grad(c, i)) {
        r.set_requires_grad(true);
        k.set_requires_grad(true);
        ref_leaves.push_back(r);
        cand_leaves.push_back(k);
        leaf_input.push_back(i);
      }
      ref_in.push_back(r);
      cand_in.push_back(k);
    }

    // ---- forward ----
    const Tensor ref_out = c.f(ref_in);
    poison_next_allocations(ref_out.shape(), dev);
    const Tensor out = c.f(cand_in);
    ASSERT_EQ(out.device(), dev) << c.name << ": result on " << gn::to_string(out.device());
    ASSERT_EQ(out.dtype(), DType::Float32) << c.name;
    ASSERT_EQ(out.shape(), ref_out.shape())
        << c.name << ": " << shape_str(out.shape()) << " vs reference " << shape_str(ref_out.shape());
    const Tensor seed = signed_input(ref_out.shape(), gen);
    const Magnitudes mag = c.magnitudes ? c.magnitudes(c.inputs, seed) : Magnitudes{};
    EXPECT_TRUE(gn_parity::parity_close(c.name + " forward", out.to_vector(), ref_out.to_vector(),
                                        values_or_empty(mag.out), c.out_len));
    if (ref_leaves.empty()) return;

    // ---- backward ----
    const TensorList ref_grads = gn::grad(TensorList{ref_out}, ref_leaves, TensorList{seed});
    for (const Tensor& g : ref_grads) poison_next_allocations(g.shape(), dev);
    const TensorList grads = gn::grad(TensorList{out}, cand_leaves, TensorList{seed.to(DType::Float32).to(dev)});
    ASSERT_EQ(grads.size(), ref_grads.size());
    for (std::size_t k = 0; k < grads.size(); ++k) {
      const std::size_t i = leaf_input[k];
      const std::string what = c.name + " d/d(input " + std::to_string(i) + ")";
      ASSERT_TRUE(grads[k].defined()) << what;
      EXPECT_EQ(grads[k].device(), dev) << what;
      EXPECT_EQ(grads[k].dtype(), DType::Float32) << what;
      ASSERT_EQ(grads[k].shape(), ref_grads[k].shape()) << what;
      const std::int64_t len = c.grad_len.empty() ? 1 : c.grad_len[i];
      const std::vector<double> m = mag.grads.size() > i ? values_or_empty(mag.grads[i]) : std::vector<double>{};
      EXPECT_TRUE(gn_parity::parity_close(what, grads[k].to_vector(), ref_grads[k].to_vector(), m, len));
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << c.name << " on " << gn::to_string(dev) << " threw: " << e.what();
  }
}

}  // namespace
