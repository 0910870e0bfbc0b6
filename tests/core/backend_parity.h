#pragma once
// Helpers for the backend parity suite (backend_parity_test.cpp): the backends, the tolerance and the
// element-by-element comparison of a float32 result against a float64 reference.
//
// The tolerance. A float32 result y of an op is compared with the float64 reference r of the same op on
// the same inputs (the inputs are drawn once and rounded to float32, so both sides see identical
// numbers and only the arithmetic differs). The float64 reference is exact for our purposes: its own
// error is ~1e-16 relative, nine orders below what is tolerated here. With u = FLT_EPSILON / 2 = 2^-24
// (the float32 unit roundoff) every element must satisfy
//
//     |y - r| <= atol + rtol |r|,   atol = 2 u d(n) M,   rtol = 64 u,   d(n) = ceil(log2 n) + 1
//
//  - n is the reduction length behind the element (1 for elementwise ops, the summed extent for
//    sum/mean, K for a matmul, the batch for a weight gradient, ...). Any summation order that is a
//    tree of depth d (pairwise, blocked GPU reductions, or double accumulation, which is better still)
//    has the classical error bound |error| <= d u sum_j |t_j| (Higham, Accuracy and Stability of
//    Numerical Algorithms, sec. 4.2); one more u per term covers the rounding of each term itself (a
//    product g*b, a scale 1/n), hence 2 u d(n).
//  - M is that bound's sum_j |t_j| for the element: for ops built from sums of products (sum, mean,
//    binary ops with broadcasting, matmul, linear) the parity suite gets it by running the op in float64
//    on |inputs| (with |seed| for gradients); where the terms are all >= 0 (mse) M = |r|; for
//    cross-entropy it is computed from the logits. Elementwise ops have n = 1 and M = |r|.
//  - rtol covers the per-element error of a float32 implementation: a few ulp in exp/log/tanh/pow
//    (CUDA's expf, logf, tanhf are within 2 ulp; Eigen's vectorised versions similar), amplified up to
//    ~10x where a derivative cancels (1 - y^2 of tanh, y (1 - y) of sigmoid for |x| <= 1.5), and a few
//    roundings per element of a backward formula. 64 u ~ 3.8e-6: any real bug (a wrong index, a dropped
//    tail, a wrong formula) is orders of magnitude above it.
//  - With d(n) ~ 22 at n = 2^20 + 7 the bound is loose in absolute terms (it must admit every
//    deterministic summation order), so the huge sizes check grid/block/tail logic (a missing block of
//    elements is far outside it) while the small awkward sizes (31, 32, 33, 1023) pin every element.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/device.h"

namespace gn_parity {

enum class Backend { Cpu, Cuda };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::Cpu ? "cpu" : "cuda";
}

// So that gtest (and the ctest names gtest_discover_tests makes) print "cpu"/"cuda", not raw bytes.
inline void PrintTo(Backend b, std::ostream* os) { *os << (b == Backend::Cpu ? "cpu" : "cuda"); }

inline gn::Device device_of(Backend b) { return b == Backend::Cpu ? gn::cpu_device() : gn::cuda_device(0); }

constexpr double kUnitRoundoff = std::numeric_limits<float>::epsilon() / 2;  // 2^-24
constexpr double kElementSlack = 64;                                         // rtol = 64 u, see above
constexpr double kSummationSlack = 2;                                        // atol = 2 u d(n) M

// d(n) = ceil(log2 n) + 1: the depth of a summation tree over n terms (1 for an elementwise op).
inline double summation_depth(std::int64_t n) {
  int d = 0;
  while ((std::int64_t{1} << d) < n) ++d;
  return d + 1;
}

inline double parity_rtol() { return kElementSlack * kUnitRoundoff; }
inline double parity_atol(std::int64_t n, double magnitude) {
  return kSummationSlack * kUnitRoundoff * summation_depth(n) * magnitude;
}

// Every element of `got` (float32 result, read back as doubles) against `ref` (float64), with the
// tolerance above; `magnitude` is M per element (empty: M = |ref|). Reports the worst elements.
inline ::testing::AssertionResult parity_close(const std::string& what, const std::vector<double>& got,
                                               const std::vector<double>& ref, const std::vector<double>& magnitude,
                                               std::int64_t n) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": " << got.size() << " elements, reference has " << ref.size();
  if (!magnitude.empty() && magnitude.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": magnitude has " << magnitude.size() << " elements, expected "
                                         << ref.size();
  std::size_t bad = 0;
  std::ostringstream first;
  double worst_ratio = 0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double m = magnitude.empty() ? std::abs(ref[i]) : std::max(magnitude[i], std::abs(ref[i]));
    // The floor: float32's smallest normal, so results that flush to zero on one side still compare.
    const double tol = parity_atol(n, m) + parity_rtol() * std::abs(ref[i]) + std::numeric_limits<float>::min();
    const double err = std::abs(got[i] - ref[i]);
    if (!(err <= tol)) {  // also catches NaN
      if (bad < 5)
        first << "\n  [" << i << "] got " << got[i] << ", float64 reference " << ref[i] << ", |diff| " << err
              << " > tol " << tol;
      ++bad;
    }
    const double ratio = tol > 0 ? err / tol : 0;
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << ref.size()
                                       << " elements outside atol + rtol |ref| (reduction length " << n << ", rtol "
                                       << parity_rtol() << "); worst at [" << worst << "]" << first.str();
}

}  // namespace gn_parity
