#pragma once
// The bad inputs every GradNorm weight-update backend must refuse the same way (set the status, commit
// nothing): shared by the CPU kernel's test and the CUDA kernel's test. T = 3; update 2 runs inside an
// L_i(0) window of 3 updates, so the loss sum must survive a failure too.
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/gradnorm_update_state.h"

namespace gn::gradnorm_cases {

struct FailureCase {
  const char* what;
  std::vector<double> L, G;  // G holds G_i^2
  std::vector<int> flags;    // empty: nullptr
  int bad_weight;            // >= 0: this weight is set to weight_value first
  double weight_value;
  std::int64_t status;
};

struct Failures {
  static constexpr int T = 3;
  const std::vector<double> L1{1.0, 2.0, 3.0}, L2{0.9, 1.5, 2.0}, G{1.0, 4.0, 9.0};  // update 1's and 2's
  std::vector<FailureCase> cases;
  GradNormUpdateOptions options() const {
    GradNormUpdateOptions o;
    o.initial_loss_steps = 3;
    return o;
  }
  Failures() {
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    cases = {
        {"NaN loss", {1.0, nan, 2.0}, G, {}, -1, 0, kGradNormNonFiniteInput},
        {"+inf loss", {inf, 1.0, 2.0}, G, {}, -1, 0, kGradNormNonFiniteInput},
        {"NaN norm", L2, {1.0, 4.0, nan}, {}, -1, 0, kGradNormNonFiniteInput},
        {"inf norm", L2, {inf, 4.0, 9.0}, {}, -1, 0, kGradNormNonFiniteInput},
        {"negative squared norm", L2, {1.0, -4.0, 9.0}, {}, -1, 0, kGradNormNonFiniteInput},
        {"norm flagged non-finite", L2, G, {0, 1, 0}, -1, 0, kGradNormNonFiniteInput},
        {"NaN weight", L2, G, {}, 1, nan, kGradNormNonFiniteWeight},
        // G / w overflows to inf, and Adam's m / sqrt(v) is inf / inf
        {"weight gradient overflows", L2, {1.0, 1e300, 9.0}, {}, 1, 1e-200, kGradNormNonFiniteWeight},
        {"zero loss in the L_i(0) window", {1.0, 0.0, 2.0}, G, {}, -1, 0, kGradNormBadInitialLoss},
        {"negative loss in the L_i(0) window", {1.0, 1.0, -2.0}, G, {}, -1, 0, kGradNormBadInitialLoss},
    };
  }
};

}  // namespace gn::gradnorm_cases
