// Fused weighted-loss kernels on CUDA (see weighted_loss.h for the contracts). Kernel-lab versions:
//
// combine_task_blocks (out (B, D) = sum_t w_t deltas[:, t*D:(t+1)*D]):
//   v1  one thread per output element, a grid-stride loop over B*D; each thread splits its flat index
//       into (b, j) with a 64-bit division and loops over t, reading w[t] from global memory every time.
//       Reads are coalesced (neighbouring threads, neighbouring j), but every load moves 4 bytes.
//   v2  16-byte packs (4 floats / 2 doubles per thread, one int4 load per task and one store), when D is
//       a multiple of the pack and deltas/out are 16-byte aligned (else width 1, same kernel); a 2-D grid
//       (x: packs of a row, y: rows) so no division in the loop; w staged once per block in shared
//       memory; streaming loads (__ldcs) for the deltas, which are read exactly once; block width fitted
//       to the row (32..256 threads) so a 100-wide toy row does not leave 7/8 of each block idle.
//
// multitask_mse (losses[t] = mean (p - y)^2 and grads[t] = k_t (p - y)):
//   v1  two kernels: one block per task computes the loss (the naive reduction: T blocks), then an
//       elementwise kernel computes the gradient. pred and target are read twice: 5 words moved per
//       element (read p, y; read p, y; write g) instead of 3, and the loss pass uses T SMs only.
//   v2  fused: one pass over (p, y) computes d = p - y, writes g = k d and accumulates d^2 (3 words per
//       element), on a (blocks_per_task, T) grid with 16-byte packs where p, y, g are 16-byte aligned.
//       Each block writes its partial to its own slot; a one-block-per-task finalize adds the slots in
//       index order. Deterministic, no float atomics; blocks_per_task depends on n only.
//   v3  v2 with the finalize inside the same kernel (the last block to arrive for a task, counted with
//       an integer atomic, adds that task's slots in index order, as task_norms.cu v5): one launch.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/weighted_loss.h"

namespace gn::cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kMaxSharedWeights = 4096;           // combine v2 stages w in shared memory up to this T
constexpr std::int64_t kMseElemsPerBlock = 4096;  // multitask_mse v2/v3: work per block (before the cap)
constexpr int kMseMaxBlocksPerTask = 1024;

// Scratch of multitask_mse v2/v3 (one set per device; see the header's one-call-at-a-time note).
__device__ double g_mse_partials[kMaxFusedTasks * kMseMaxBlocksPerTask];
__device__ unsigned g_mse_counters[kMaxFusedTasks];  // zero at load; v3 resets each one after use

// ---- device helpers ------------------------------------------------------------------------------

// The fixed-order block sums of block_reduce.cuh at this file's block size: block_sum_tree gives every
// thread the sum (v1, v2); block_sum_shfl, warp shuffles then one warp, gives it to thread 0 (v3 on).
template <class A>
__device__ A block_sum_tree(A v) {
  return detail::block_sum_tree<kBlock>(v);
}
template <class A>
__device__ A block_sum_shfl(A v) {
  return detail::block_sum_shfl<kBlock>(v);
}
using detail::warp_sum;

// W consecutive T, moved with one 16-byte instruction when W * sizeof(T) == 16, else element by element.
template <class T, int W>
struct alignas(sizeof(T) * W) Pack {
  T v[W];
};
template <class T, int W>
__device__ Pack<T, W> load_pack(const T* p) {
  Pack<T, W> r;
  if constexpr (sizeof(T) * W == 16) {
    *reinterpret_cast<int4*>(r.v) = *reinterpret_cast<const int4*>(p);
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) r.v[k] = p[k];
  }
  return r;
}
template <class T, int W>
__device__ Pack<T, W> load_pack_streaming(const T* p) {  // evict-first: read exactly once
  Pack<T, W> r;
  if constexpr (sizeof(T) * W == 16) {
    *reinterpret_cast<int4*>(r.v) = __ldcs(reinterpret_cast<const int4*>(p));
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) r.v[k] = __ldcs(p + k);
  }
  return r;
}
template <class T, int W>
__device__ void store_pack(T* p, const Pack<T, W>& x) {
  if constexpr (sizeof(T) * W == 16) {
    *reinterpret_cast<int4*>(p) = *reinterpret_cast<const int4*>(x.v);
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) p[k] = x.v[k];
  }
}

template <class T>
constexpr int kPack16 = static_cast<int>(16 / sizeof(T));

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// ---- combine_task_blocks -------------------------------------------------------------------------

template <class T>
__global__ void __launch_bounds__(kBlock)
    combine_v1(std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out) {
  const std::int64_t total = B * D, row = static_cast<std::int64_t>(num_tasks) * D;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += stride) {
    const std::int64_t b = idx / D, j = idx - b * D;
    const T* in = deltas + b * row + j;
    T acc = (w != nullptr ? w[0] : T(1)) * in[0];
    for (int t = 1; t < num_tasks; ++t) acc += (w != nullptr ? w[t] : T(1)) * in[t * D];
    out[idx] = acc;
  }
}

// Grid: x over packs of a row, y over rows (both grid-stride). Dynamic shared memory: num_tasks T.
template <class T, int W>
__global__ void __launch_bounds__(kBlock)
    combine_v2(std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out) {
  extern __shared__ __align__(16) unsigned char smem[];
  T* ws = reinterpret_cast<T*>(smem);
  for (int t = threadIdx.x; t < num_tasks; t += blockDim.x) ws[t] = w != nullptr ? w[t] : T(1);
  __syncthreads();
  const std::int64_t packs = D / W, row = static_cast<std::int64_t>(num_tasks) * D;
  const std::int64_t x_stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const T* in = deltas + b * row;
    T* o = out + b * D;
    for (std::int64_t jp = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; jp < packs;
         jp += x_stride) {
      const std::int64_t j = jp * W;
      const Pack<T, W> first = load_pack_streaming<T, W>(in + j);
      Pack<T, W> acc;
#pragma unroll
      for (int k = 0; k < W; ++k) acc.v[k] = ws[0] * first.v[k];
      for (int t = 1; t < num_tasks; ++t) {
        const Pack<T, W> x = load_pack_streaming<T, W>(in + t * D + j);
#pragma unroll
        for (int k = 0; k < W; ++k) acc.v[k] += ws[t] * x.v[k];
      }
      store_pack<T, W>(o + j, acc);
    }
  }
}

template <class T, int W>
void launch_combine_v2(std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out,
                       cudaStream_t s) {
  const std::int64_t packs = D / W;
  // Block width fitted to the row: a multiple of 32 covering the row's packs, at most kBlock.
  const int threads = static_cast<int>(std::clamp<std::int64_t>((packs + 31) / 32 * 32, 32, kBlock));
  const auto gx = static_cast<unsigned>(std::clamp<std::int64_t>((packs + threads - 1) / threads, 1, 65535));
  const auto gy = static_cast<unsigned>(std::clamp<std::int64_t>(B, 1, 65535));
  combine_v2<T, W><<<dim3(gx, gy), threads, sizeof(T) * num_tasks, s>>>(B, num_tasks, D, deltas, w, out);
  GN_CUDA_CHECK_LAUNCH();
}

// ---- multitask_mse -------------------------------------------------------------------------------

template <class T>
struct MseTasks {  // by value in the kernel parameters: 3 * 64 pointers = 1.5 KB (limit 4 KB)
  const T* pred[kMaxFusedTasks];
  const T* target[kMaxFusedTasks];
  T* grad[kMaxFusedTasks];
};

template <class T>
__device__ T mse_scale(std::int64_t n, const T* w, int t) {  // k_t exactly as the CPU reference
  return n > 0 ? T(2) * w[t] / static_cast<T>(n) : T(0);
}

// v1, first kernel: grid = T blocks; block t reduces task t alone.
template <class T>
__global__ void __launch_bounds__(kBlock) mse_loss_v1(std::int64_t n, MseTasks<T> a, double* losses) {
  const int t = blockIdx.x;
  const T* p = a.pred[t];
  const T* y = a.target[t];
  T acc = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += kBlock) {
    const T d = p[i] - y[i];
    acc += d * d;
  }
  const T total = block_sum_tree(acc);
  if (threadIdx.x == 0) losses[t] = n > 0 ? static_cast<double>(total) / static_cast<double>(n) : 0.0;
}

// v1, second kernel: grid = (x over n, y = T), elementwise.
template <class T>
__global__ void __launch_bounds__(kBlock) mse_grad_v1(std::int64_t n, MseTasks<T> a, const T* w) {
  const int t = blockIdx.y;
  const T k = mse_scale(n, w, t);
  const T* p = a.pred[t];
  const T* y = a.target[t];
  T* g = a.grad[t];
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kBlock;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kBlock + threadIdx.x; i < n; i += stride)
    g[i] = k * (p[i] - y[i]);
}

// v2/v3 body: this thread's share of sum d^2 for task blockIdx.y, writing g along the way. Grid =
// (blocks_per_task, T). Packs of 16 bytes when the task's three pointers are 16-byte aligned; the tail
// (n mod pack) goes to block 0.
template <class T>
__device__ T mse_fused_pass(std::int64_t n, const MseTasks<T>& a, const T* w, bool vectorised) {
  constexpr int W = kPack16<T>;
  const int t = blockIdx.y;
  const T k = mse_scale(n, w, t);
  const T* p = a.pred[t];
  const T* y = a.target[t];
  T* g = a.grad[t];
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * kBlock + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kBlock;
  T acc = 0;
  std::int64_t scalar_from = 0;  // elements before this index went through packs
  if (vectorised) {
    const std::int64_t packs = n / W;
    for (std::int64_t i = first; i < packs; i += stride) {
      const Pack<T, W> pp = load_pack_streaming<T, W>(p + i * W);
      const Pack<T, W> yy = load_pack_streaming<T, W>(y + i * W);
      Pack<T, W> gg;
#pragma unroll
      for (int c = 0; c < W; ++c) {
        const T d = pp.v[c] - yy.v[c];
        gg.v[c] = k * d;
        acc += d * d;
      }
      store_pack<T, W>(g + i * W, gg);
    }
    scalar_from = packs * W;
    if (blockIdx.x == 0 && scalar_from + threadIdx.x < n) {  // tail: fewer than W elements
      const std::int64_t i = scalar_from + threadIdx.x;
      const T d = p[i] - y[i];
      g[i] = k * d;
      acc += d * d;
    }
  } else {
    for (std::int64_t i = first; i < n; i += stride) {
      const T d = p[i] - y[i];
      g[i] = k * d;
      acc += d * d;
    }
  }
  return acc;
}

__device__ void mse_write_loss(std::int64_t n, int t, double sum, double* losses) {
  losses[t] = n > 0 ? sum / static_cast<double>(n) : 0.0;
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    mse_fused_v2(std::int64_t n, MseTasks<T> a, const T* w, std::uint64_t aligned_mask) {
  const int t = blockIdx.y;
  const T total = block_sum_shfl(mse_fused_pass(n, a, w, ((aligned_mask >> t) & 1u) != 0));
  if (threadIdx.x == 0) g_mse_partials[t * kMseMaxBlocksPerTask + blockIdx.x] = static_cast<double>(total);
}

// v2 finalize: grid = T blocks; task t's blocks_per_task slots in index order.
__global__ void __launch_bounds__(kBlock) mse_finalize_v2(std::int64_t n, int blocks_per_task, double* losses) {
  const int t = blockIdx.x;
  const double* slots = g_mse_partials + t * kMseMaxBlocksPerTask;
  double acc = 0;
  for (int i = threadIdx.x; i < blocks_per_task; i += kBlock) acc += slots[i];
  const double total = block_sum_shfl(acc);
  if (threadIdx.x == 0) mse_write_loss(n, t, total, losses);
}

// v3: v2's pass; the last block of each task runs the v2 finalize for it.
template <class T>
__global__ void __launch_bounds__(kBlock)
    mse_fused_v3(std::int64_t n, MseTasks<T> a, const T* w, std::uint64_t aligned_mask, double* losses) {
  const int t = blockIdx.y;
  const T total = block_sum_shfl(mse_fused_pass(n, a, w, ((aligned_mask >> t) & 1u) != 0));
  double* slots = g_mse_partials + t * kMseMaxBlocksPerTask;
  __shared__ bool is_last;
  if (threadIdx.x == 0) {
    slots[blockIdx.x] = static_cast<double>(total);
    __threadfence();  // the partial is visible device-wide before the arrival is counted
    is_last = atomicAdd(&g_mse_counters[t], 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!is_last) return;  // uniform across the block
  __threadfence();
  double acc = 0;
  for (int i = threadIdx.x; i < static_cast<int>(gridDim.x); i += kBlock) acc += __ldcg(slots + i);
  const double sum = block_sum_shfl(acc);
  if (threadIdx.x == 0) {
    mse_write_loss(n, t, sum, losses);
    g_mse_counters[t] = 0;
  }
}

// A function of n only (never of the device), so the summation order is the same on every GPU.
int mse_blocks_per_task(std::int64_t n) {
  return static_cast<int>(
      std::clamp<std::int64_t>((n + kMseElemsPerBlock - 1) / kMseElemsPerBlock, 1, kMseMaxBlocksPerTask));
}

}  // namespace

template <class T>
void combine_task_blocks_variant(int variant, std::int64_t B, int num_tasks, std::int64_t D, const T* deltas,
                                 const T* w, T* out, Stream s) {
  GN_CHECK(variant >= 1 && variant <= kCombineVariants, "combine_task_blocks: variant {} is not in [1, {}]", variant,
           kCombineVariants);
  GN_CHECK(B >= 0 && D >= 0 && num_tasks >= 1, "combine_task_blocks: bad shape B={} T={} D={}", B, num_tasks, D);
  if (B == 0 || D == 0) return;
  GN_CHECK(deltas != nullptr && out != nullptr, "combine_task_blocks: null pointer");
  if (variant == 2 && num_tasks <= kMaxSharedWeights) {
    constexpr int W = kPack16<T>;
    if (D % W == 0 && aligned16(deltas) && aligned16(out))
      launch_combine_v2<T, W>(B, num_tasks, D, deltas, w, out, s);
    else
      launch_combine_v2<T, 1>(B, num_tasks, D, deltas, w, out, s);
    return;
  }
  const auto blocks = static_cast<unsigned>(std::clamp<std::int64_t>((B * D + kBlock - 1) / kBlock, 1, 65536));
  combine_v1<T><<<blocks, kBlock, 0, s>>>(B, num_tasks, D, deltas, w, out);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void combine_task_blocks(std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out, Stream s) {
  combine_task_blocks_variant(kCombineDefaultVariant, B, num_tasks, D, deltas, w, out, s);
}

template <class T>
void multitask_mse_variant(int variant, int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets,
                           const T* w, double* losses, T* const* grads, Stream s) {
  GN_CHECK(variant >= 1 && variant <= kMultitaskMseVariants, "multitask_mse: variant {} is not in [1, {}]", variant,
           kMultitaskMseVariants);
  GN_CHECK(num_tasks >= 0 && num_tasks <= kMaxFusedTasks, "multitask_mse: {} tasks; the fused kernel takes 0..{}",
           num_tasks, kMaxFusedTasks);
  GN_CHECK(n >= 0, "multitask_mse: n = {}", n);
  if (num_tasks == 0) return;
  GN_CHECK(w != nullptr && losses != nullptr, "multitask_mse: null w or losses");
  MseTasks<T> a{};
  std::uint64_t aligned_mask = 0;
  for (int t = 0; t < num_tasks; ++t) {
    GN_CHECK(n == 0 || (preds[t] != nullptr && targets[t] != nullptr && grads[t] != nullptr),
             "multitask_mse: task {} has a null pointer", t);
    a.pred[t] = preds[t];
    a.target[t] = targets[t];
    a.grad[t] = grads[t];
    if (aligned16(preds[t]) && aligned16(targets[t]) && aligned16(grads[t])) aligned_mask |= std::uint64_t{1} << t;
  }
  if (variant == 1) {
    mse_loss_v1<T><<<num_tasks, kBlock, 0, s>>>(n, a, losses);
    GN_CUDA_CHECK_LAUNCH();
    const auto gx = static_cast<unsigned>(std::clamp<std::int64_t>((n + kBlock - 1) / kBlock, 1, 65535));
    mse_grad_v1<T><<<dim3(gx, num_tasks), kBlock, 0, s>>>(n, a, w);
    GN_CUDA_CHECK_LAUNCH();
    return;
  }
  const int bpt = mse_blocks_per_task(n);
  if (variant == 2) {
    mse_fused_v2<T><<<dim3(bpt, num_tasks), kBlock, 0, s>>>(n, a, w, aligned_mask);
    GN_CUDA_CHECK_LAUNCH();
    mse_finalize_v2<<<num_tasks, kBlock, 0, s>>>(n, bpt, losses);
    GN_CUDA_CHECK_LAUNCH();
    return;
  }
  mse_fused_v3<T><<<dim3(bpt, num_tasks), kBlock, 0, s>>>(n, a, w, aligned_mask, losses);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void multitask_mse(int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                   double* losses, T* const* grads, Stream s) {
  multitask_mse_variant(kMultitaskMseDefaultVariant, num_tasks, n, preds, targets, w, losses, grads, s);
}

namespace {
template <class V>
__device__ bool record_if_nonfinite(V v, int task, long long quantity, long long step, long long* record) {
  if (isfinite(v)) return false;
  record[0] = step + 1;
  record[1] = task;
  record[2] = quantity;
  record[3] = isnan(v) ? 0 : (v > 0 ? 1 : 2);  // kDivergedNaN, kDivergedPosInf, kDivergedNegInf
  return true;
}

template <class W>
__global__ void record_nonfinite_kernel(int num_tasks, const double* losses, const double* sq_norms, const W* weights,
                                        long long step, long long* record) {
  if (record[0] != 0) return;
  for (int t = 0; t < num_tasks; ++t)
    if (record_if_nonfinite(losses[t], t, 0, step, record)) return;
  if (sq_norms != nullptr)
    for (int t = 0; t < num_tasks; ++t)
      if (record_if_nonfinite(sq_norms[t], t, 1, step, record)) return;
  if (weights != nullptr)
    for (int t = 0; t < num_tasks; ++t)
      if (record_if_nonfinite(weights[t], t, 2, step, record)) return;
}
}  // namespace

template <class W>
void record_nonfinite(int num_tasks, const double* losses, const double* sq_norms, const W* weights, std::int64_t step,
                      std::int64_t* record, Stream s) {
  GN_CHECK(num_tasks >= 1 && losses != nullptr && record != nullptr, "record_nonfinite: bad arguments");
  static_assert(sizeof(long long) == sizeof(std::int64_t));
  record_nonfinite_kernel<W><<<1, 1, 0, s>>>(num_tasks, losses, sq_norms, weights, static_cast<long long>(step),
                                             reinterpret_cast<long long*>(record));
  GN_CUDA_CHECK_LAUNCH();
}

#define GN_INSTANTIATE(T)                                                                                              \
  template void record_nonfinite<T>(int, const double*, const double*, const T*, std::int64_t, std::int64_t*, Stream); \
  template void combine_task_blocks<T>(std::int64_t, int, std::int64_t, const T*, const T*, T*, Stream);               \
  template void combine_task_blocks_variant<T>(int, std::int64_t, int, std::int64_t, const T*, const T*, T*, Stream);  \
  template void multitask_mse<T>(int, std::int64_t, const T* const*, const T* const*, const T*, double*, T* const*,    \
                                 Stream);                                                                              \
  template void multitask_mse_variant<T>(int, int, std::int64_t, const T* const*, const T* const*, const T*, double*,  \
                                         T* const*, Stream);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

}  // namespace gn::cuda
