#pragma once
// Shared helpers of the GradNorm CUDA kernel tests (CUDA builds only): device arrays with poisoning,
// seeded test values, rounding bounds.
#include <gtest/gtest.h>


#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"
#include "kernels/cuda/gradnorm_update.h"
#include "kernels/cuda/stream.h"
#include "kernels/cuda/task_norms.h"
#include "kernels/cuda/weighted_loss.h"
#include "kernels/error.h"

namespace gn {
namespace {

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

inline cudaStream_t stream() { return cuda::current_stream(); }

// Device array of n T; poison() sets every byte to 0xFF (NaN for float/double, -1 for int).
template <class T>
class Dev {
 public:
  explicit Dev(std::int64_t n) : n_(n) {
    if (n > 0 && cudaMalloc(&p_, sizeof(T) * static_cast<std::size_t>(n)) != cudaSuccess)
      throw Error("cudaMalloc failed in the test");
  }
  ~Dev() {
    cudaStreamSynchronize(stream());
    cudaFree(p_);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return p_; }
  void upload(const std::vector<T>& h, std::int64_t at = 0) {
    cudaMemcpyAsync(p_ + at, h.data(), sizeof(T) * h.size(), cudaMemcpyHostToDevice, stream());
    cudaStreamSynchronize(stream());
  }
  std::vector<T> download(std::int64_t count, std::int64_t at = 0) const {
    std::vector<T> h(static_cast<std::size_t>(count));
    cudaMemcpyAsync(h.data(), p_ + at, sizeof(T) * h.size(), cudaMemcpyDeviceToHost, stream());
    cudaStreamSynchronize(stream());
    return h;
  }
  void poison() { cudaMemsetAsync(p_, 0xFF, sizeof(T) * static_cast<std::size_t>(n_), stream()); }
  void zero() { cudaMemsetAsync(p_, 0, sizeof(T) * static_cast<std::size_t>(n_), stream()); }

 private:
  T* p_ = nullptr;
  std::int64_t n_;
};

template <class T>
std::vector<T> values(std::int64_t n, std::uint64_t seed, bool integers) {
  std::mt19937_64 gen(seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  std::uniform_int_distribution<int> small(-2, 2);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto& x : v) x = integers ? static_cast<T>(small(gen)) : static_cast<T>(normal(gen));
  return v;
}

inline bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

// A sum of non-negative terms with a longest sequential chain of `chain` additions has relative error at
// most chain * eps / 2; eps * (chain + 64) leaves a 2x margin plus room for squaring and the trees.
template <class T>
double sum_rtol(std::int64_t chain) {
  return std::numeric_limits<T>::epsilon() * static_cast<double>(chain + 64);
}

constexpr std::int64_t kBig = (1 << 20) + 7;
const std::int64_t kAwkward[] = {1, 31, 32, 33, 1023, kBig};
inline bool few_tasks(int T) { return T <= 3 || T == 7 || T == 16; }  // the 2^20 + 7 cases run at these T

}  // namespace
}  // namespace gn
