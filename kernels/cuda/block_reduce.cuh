#pragma once
// Block-wide sums shared by the GradNorm kernels (CUDA translation units only). Both are fixed-order:
// the same inputs in the same threads give the same bits on every run.
#include <cuda_runtime.h>

namespace gn::cuda::detail {

// Textbook shared-memory tree: log2(kBlock) halving rounds, a barrier each. Every thread gets the sum.
template <int kBlock, class A>
__device__ A block_sum_tree(A v) {
  __shared__ A buf[kBlock];
  __syncthreads();  // a previous call's readers of buf[0] are done
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int half = kBlock / 2; half > 0; half >>= 1) {
    if (static_cast<int>(threadIdx.x) < half) buf[threadIdx.x] += buf[threadIdx.x + half];
    __syncthreads();
  }
  return buf[0];
}

// Warp shuffle: lane 0 gets the warp's sum.
template <class A>
__device__ A warp_sum(A v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Warp shuffles, then one warp adds the kBlock / 32 warp sums. The result is valid in thread 0 only.
template <int kBlock, class A>
__device__ A block_sum_shfl(A v) {
  constexpr int kWarps = kBlock / 32;
  __shared__ A warp_sums[kWarps];
  __syncthreads();  // a previous call's readers of warp_sums are done
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = static_cast<int>(threadIdx.x) < kWarps ? warp_sums[threadIdx.x] : A(0);
  if (warp == 0) v = warp_sum(v);
  return v;
}

}  // namespace gn::cuda::detail
