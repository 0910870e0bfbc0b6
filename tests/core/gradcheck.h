#pragma once
// Finite-difference gradient checking for the core ops, plus small helpers shared by the core tests.
//
// gradcheck(f, inputs) treats every floating input as a variable, draws a fixed random R of f's output
// shape and checks the analytic gradient of the scalar L = sum(f(x) * R) (so every output element and
// every input element is exercised, whatever the output's shape) against central differences
//   dL/dx_j ~ (L(x + h e_j) - L(x - h e_j)) / (2 h)
// for every element j of every floating input. Int64 inputs (labels) are passed through unchecked.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace gn_test {

using TensorFn = std::function<gn::Tensor(const std::vector<gn::Tensor>&)>;

struct GradCheckOptions {
  // <= 0 means "derive from the inputs' dtype", see default_tolerance() and default_step().
  double h = 0;
  double atol = 0;
  double rtol = 0;
  std::uint64_t seed = 0x5eed;  // for R
};

// Tolerance for |analytic - numeric| <= atol + rtol * |numeric|, by dtype (atol = rtol).
//  float64: h = 1e-6 gives a truncation error O(h^2 |L'''|) ~ 1e-12 and a rounding error
//           ~ eps64 |L| / h ~ 2e-16 * |L| / 1e-6 ~ 2e-10 |L|; with |L| up to ~100 for our sizes that is
//           ~2e-8, so 1e-6 leaves a wide margin while a wrong gradient (an O(1) error) cannot pass.
//  float32: the forward itself is only accurate to eps32 ~ 1.2e-7 relative, so h must be larger
//           (1e-3, rounding error ~ 1e-4 |L|) and the tolerance looser (2e-2).
double default_tolerance(gn::DType dtype);
double default_step(gn::DType dtype);

// Checks every floating input's gradient. Also checks that gn::backward() and gn::grad() agree.
::testing::AssertionResult gradcheck(const TensorFn& f, const std::vector<gn::Tensor>& inputs,
                                     GradCheckOptions options = {});

// ---- input factories (float64 unless told) ----
// Uniform in [low, high).
gn::Tensor uniform(const gn::Shape& shape, gn::Generator& gen, double low = -1, double high = 1,
                   gn::DType dtype = gn::DType::Float64);
// Random sign times uniform in [min_abs, max_abs): keeps inputs away from kinks at 0 (relu, abs).
gn::Tensor away_from_zero(const gn::Shape& shape, gn::Generator& gen, double min_abs = 0.2, double max_abs = 1.5,
                          gn::DType dtype = gn::DType::Float64);

// ---- comparisons ----
// Elementwise |a - b| <= atol + rtol |b|; reports the first few mismatches.
::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                     double atol, double rtol);
::testing::AssertionResult all_close(const gn::Tensor& actual, const std::vector<double>& expected, double atol,
                                     double rtol);

// Runs `fn`, expecting a gn::Error whose message contains every one of `parts`.
::testing::AssertionResult throws_error_with(const std::function<void()>& fn, const std::vector<std::string>& parts);

}  // namespace gn_test
