#pragma once
// Shared helpers of the CUDA kernel tests (CUDA builds only): sizes, poison values, host and device
// buffers, comparisons with dtype-derived tolerances, and the typed fixture over float and double.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "core/rng.h"
#include "kernels/cpu/copy.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/stream.h"
#include "kernels/error.h"

namespace gn {
namespace {

const std::vector<std::int64_t> kSizes{1, 31, 32, 33, 1023, (1 << 20) + 7};

template <class T>
constexpr double kEps = std::numeric_limits<T>::epsilon();

template <class T>
T poison() {
  return std::numeric_limits<T>::quiet_NaN();
}

// ---- host data ------------------------------------------------------------------------------------

template <class T>
std::vector<T> normals(Generator& gen, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(gen.normal());
  return v;
}
// Bounded away from zero and positive: inputs for log, sqrt, pow, and divisors.
template <class T>
std::vector<T> positives(Generator& gen, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(0.25 + std::abs(gen.normal()));
  return v;
}
template <class T>
std::vector<T> abs_of(const std::vector<T>& v) {
  std::vector<T> a(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::abs(v[i]);
  return a;
}

// ---- device buffers -------------------------------------------------------------------------------

// n elements of T in device memory (at least one is allocated, so n = 0 still gives a valid pointer).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n), p_(cuda::device_malloc(std::max<std::size_t>(n, 1) * sizeof(T))) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cuda::device_free(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return static_cast<T*>(p_); }
  void upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), n_);
    if (n_ > 0) cuda::memcpy_host_to_device(p_, host.data(), n_ * sizeof(T));
  }
  // Waits for the stream (memcpy_device_to_host synchronises), so kernel results are complete.
  std::vector<T> download() const {
    std::vector<T> host(n_);
    if (n_ > 0) cuda::memcpy_device_to_host(host.data(), p_, n_ * sizeof(T));
    return host;
  }

 private:
  std::size_t n_;
  void* p_;
};

// A device buffer of n elements filled with NaN, for outputs.
template <class T>
std::vector<T> poisoned(std::size_t n) {
  return std::vector<T>(n, poison<T>());
}

// ---- comparisons ----------------------------------------------------------------------------------

// Every got[i] within tol(i, ref[i]) of ref[i] (NaN never is); reports the count and the first offender.
template <class G, class R, class Tol>
void expect_all_near(const std::vector<G>& got, const std::vector<R>& ref, Tol tol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), r = static_cast<double>(ref[i]);
    if (!(std::abs(g - r) <= tol(i, r))) {
      if (bad == 0) first = i;
      ++bad;
    }
  }
  if (bad > 0)
    ADD_FAILURE() << what << ": " << bad << " of " << got.size() << " elements differ; first at " << first << ": got "
                  << static_cast<double>(got[first]) << ", want " << static_cast<double>(ref[first]) << " (tol "
                  << tol(first, static_cast<double>(ref[first])) << ")";
}

// atol + rtol * |ref| with atol = rtol = ulps * eps(T): for results a few roundings away from the reference.
template <class T>
auto ulp_tol(double ulps) {
  return [ulps](std::size_t, double ref) { return ulps * kEps<T> * (1.0 + std::abs(ref)); };
}

template <class T>
void expect_bits_equal(const std::vector<T>& got, const std::vector<T>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  EXPECT_EQ(std::memcmp(got.data(), ref.data(), got.size() * sizeof(T)), 0) << what << ": bytes differ";
}

// A bound on the rounding error of a float sum of terms with |terms| summing to sum_abs, by a method whose
// longest chain of additions has `depth` steps (each kernel's depth is at most the bound passed in).
template <class T>
double sum_tol(double depth, double sum_abs, double ref) {
  return 2.0 * depth * kEps<T> * sum_abs + 4.0 * kEps<T> * std::abs(ref) + std::numeric_limits<T>::min();
}
// The deterministic sum (kernels/cuda/launch.cuh): per-thread chain + 8-level block tree + final pass
// (up to 4 slots per thread + 8 levels). 2 log2 n + 32 covers every n.
double reduce_depth(std::int64_t n) { return 2.0 * std::log2(static_cast<double>(n) + 1.0) + 32.0; }

template <class T>
class CudaKernels : public ::testing::Test {};
using Dtypes = ::testing::Types<float, double>;
}  // namespace
}  // namespace gn
