#pragma once
// Internal helpers shared by the kernel files in kernels/cuda (CUDA translation units only; not part of
// the kernels' public API):
//   - launch geometry for grid-stride elementwise kernels (64-bit indices),
//   - the deterministic two-pass sum: fixed-size blocks write one partial each to their own slot, then a
//     single block adds the partials in a fixed order. No float atomics, and the block count depends only
//     on n (never on the device), so the same input gives the same bits on every run and every GPU,
//   - stream-ordered scratch memory for the partials.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/check.h"

namespace gn::cuda::detail {

// ---- elementwise launch geometry ------------------------------------------------------------------

inline constexpr int kThreads = 256;                 // threads per block for elementwise kernels
inline constexpr std::int64_t kMaxBlocks = 1 << 16;  // grid cap; larger n is covered by the grid stride

// Blocks for a grid-stride loop over n > 0 elements.
inline unsigned grid_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// First index of this thread and the stride of a grid-stride loop, both 64-bit.
__device__ inline std::int64_t thread_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() { return static_cast<std::int64_t>(blockDim.x) * gridDim.x; }

// ---- deterministic sums ---------------------------------------------------------------------------

inline constexpr int kReduceThreads = 256;  // a power of two: the shared-memory tree halves it
inline constexpr std::int64_t kReduceItemsPerThread = 8;
inline constexpr std::int64_t kReduceMaxBlocks = 1024;  // also the most partials the final pass adds

// Number of first-pass blocks (= partial slots) for n elements: a function of n only, never of the device.
inline int reduce_blocks(std::int64_t n) {
  const std::int64_t per_block = kReduceThreads * kReduceItemsPerThread;
  return static_cast<int>(std::clamp<std::int64_t>((n + per_block - 1) / per_block, 1, kReduceMaxBlocks));
}

// Sum of v over the block's kReduceThreads threads by a fixed shared-memory tree; every thread gets the
// result. buf: a __shared__ array of kReduceThreads owned by the caller. Safe to call repeatedly with the
// same buf (the leading barrier keeps a new round from overwriting a slot still being read).
template <class Acc>
__device__ Acc block_sum(Acc* buf, Acc v) {
  __syncthreads();
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half >>= 1) {
    if (static_cast<int>(threadIdx.x) < half) buf[threadIdx.x] += buf[threadIdx.x + half];
    __syncthreads();
  }
  return buf[0];
}

// First pass: block b writes partials[b] = sum of f(i) over its threads' fixed grid-stride index sets,
// each thread adding its elements in increasing i. f: a functor with `__device__ Acc operator()(int64)`.
// Launch with reduce_blocks(n) blocks of kReduceThreads threads.
template <class Acc, class F>
__global__ void partial_sums_kernel(std::int64_t n, F f, Acc* partials) {
  __shared__ Acc buf[kReduceThreads];
  Acc acc = Acc(0);
  const std::int64_t stride = static_cast<std::int64_t>(kReduceThreads) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kReduceThreads + threadIdx.x; i < n; i += stride)
    acc += f(i);
  acc = block_sum(buf, acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Second pass, one block of kReduceThreads: out[0] = T(scale * sum of partials[0..count)) in a fixed order
// (thread t adds slots t, t + kReduceThreads, ..., then the tree). count = 0 writes 0. Overwrites out[0].
template <class Acc, class T>
__global__ void finish_sum_kernel(int count, const Acc* partials, Acc scale, T* out) {
  __shared__ Acc buf[kReduceThreads];
  Acc acc = Acc(0);
  for (int i = threadIdx.x; i < count; i += kReduceThreads) acc += partials[i];
  acc = block_sum(buf, acc);
  if (threadIdx.x == 0) out[0] = static_cast<T>(acc * scale);
}

// Device scratch for one call, allocated and freed in stream order (cudaMallocAsync / cudaFreeAsync on the
// call's stream): the free is queued behind the kernels that use it, so no host sync, no shared state
// between streams, and it is legal inside CUDA-graph capture. The driver's memory pool makes the
// allocation cheap after the first use.
class StreamScratch {
 public:
  StreamScratch(std::size_t bytes, cudaStream_t s) : stream_(s) {
    if (bytes > 0) GN_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, s));
  }
  ~StreamScratch() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);  // no throw in a destructor
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  template <class U>
  U* as(std::size_t offset_bytes = 0) const {
    return reinterpret_cast<U*>(static_cast<char*>(ptr_) + offset_bytes);
  }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// out[0] = T(scale * sum_{i < n} f(i)) on stream s, deterministic (see above); n = 0 writes 0. Overwrites.
template <class Acc, class T, class F>
void deterministic_sum(std::int64_t n, F f, Acc scale, T* out, cudaStream_t s) {
  if (n <= 0) {
    finish_sum_kernel<Acc, T><<<1, kReduceThreads, 0, s>>>(0, nullptr, scale, out);
    GN_CUDA_CHECK_LAUNCH();
    return;
  }
  const int blocks = reduce_blocks(n);
  StreamScratch scratch(sizeof(Acc) * static_cast<std::size_t>(blocks), s);
  Acc* partials = scratch.as<Acc>();
  partial_sums_kernel<Acc, F><<<blocks, kReduceThreads, 0, s>>>(n, f, partials);
  GN_CUDA_CHECK_LAUNCH();
  finish_sum_kernel<Acc, T><<<1, kReduceThreads, 0, s>>>(blocks, partials, scale, out);
  GN_CUDA_CHECK_LAUNCH();
}

}  // namespace gn::cuda::detail
