// Per-task squared gradient norms on CUDA (see task_norms.h for the contract). The kernel-lab versions,
// from a naive port of the CPU loop to the fastest, live side by side:
//
//   v1  one block per task; its 256 threads stride over the task's pieces. The naive port: T blocks on a
//       132-SM GPU leave almost every SM idle (T = 2 uses 2 SMs, ~2% of the machine), and every thread
//       adds n/256 elements in one chain, which for float also costs accuracy at large n.
//   v2  a work list of fixed-size chunks (built once on the host by TaskPieceTable): one block per chunk,
//       so the grid has total / chunk blocks however the elements are spread over tasks and pieces, and
//       every SM is busy. Each block writes its sum to its own partial slot; a tiny second launch (one
//       block per task) adds the task's slots in index order. Deterministic, no float atomics.
//   v3  v2 with 16-byte loads (float4 / double2 as one int4 __ldg; a scalar head until the chunk's
//       pointer is 16-byte aligned, so misaligned pieces vectorise too, and a scalar tail) and
//       warp-shuffle reductions: 4x fewer load instructions for float, and the block sum needs 2
//       barriers instead of 9 shared-memory rounds.
//   v4  v3 with four independent 16-byte loads in flight per thread per iteration (64 bytes/thread),
//       four accumulators, and streaming loads (__ldcs, evict-first: each byte is read once). More bytes
//       in flight per SM is what it takes to cover HBM latency (Little's law), and the four separate
//       accumulation chains also shorten the float rounding chain by 4x.
//   v5  v4's chunk loop, and the finalize moves into the same kernel: each block publishes its partial
//       (store, __threadfence, atomicAdd on the task's integer arrival counter) and the block that
//       arrives last for a task adds that task's partials in index order, exactly as the v2 finalize
//       does. One launch instead of two: at the toy's sizes (~20-100k elements) the launch overhead is
//       most of the time. The only atomic is an integer counter; the float sum order stays fixed.
//
// All variants: 64-bit element indices; the float sum of a block goes into a double slot; a task's total
// is a double. Accumulation is in T (float for float input, STYLE habit 9).

#include <cuda_runtime.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <vector>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/task_norms.h"

namespace gn::cuda {
namespace {

constexpr int kBlock = 256;  // threads per block, every kernel in this file
constexpr int kUnroll = 4;   // v4, v5: 16-byte loads in flight per thread

// One entry of the work list: n (<= chunk_elements) contiguous elements of one piece.
template <class T>
struct TaskChunk {
  const T* data;
  std::int64_t n;
  int task;
};

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

// 16 bytes of T (4 floats or 2 doubles), moved with one int4 load or store, as llm.c's Packed128.
template <class T>
struct alignas(16) Pack16 {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};
template <class T>
__device__ Pack16<T> load16(const T* p) {  // p 16-byte aligned; through the read-only data cache
  Pack16<T> r;
  *reinterpret_cast<int4*>(r.v) = __ldg(reinterpret_cast<const int4*>(p));
  return r;
}
template <class T>
__device__ Pack16<T> load16_streaming(const T* p) {  // evict-first: data read exactly once
  Pack16<T> r;
  *reinterpret_cast<int4*>(r.v) = __ldcs(reinterpret_cast<const int4*>(p));
  return r;
}
template <class T>
__device__ T sum_sq(const Pack16<T>& p) {
  T s = 0;
#pragma unroll
  for (int k = 0; k < Pack16<T>::kSize; ++k) s += p.v[k] * p.v[k];
  return s;
}

// x[0..n) = head scalars (until x + head is 16-byte aligned), nvec packs of 16 bytes, then a scalar tail
// of fewer than kSize elements. head < kSize <= 4 < kBlock: one thread per head or tail element.
struct Split16 {
  std::int64_t head, nvec;
};
template <class T>
__device__ Split16 split16(const T* x, std::int64_t n) {
  constexpr int W = Pack16<T>::kSize;
  const int past = static_cast<int>((reinterpret_cast<std::uintptr_t>(x) % 16) / sizeof(T));
  const std::int64_t to_boundary = past == 0 ? 0 : W - past;
  const std::int64_t head = to_boundary < n ? to_boundary : n;
  return {head, (n - head) / W};
}

// This thread's share of the sum of squares of chunk c (v4, v5).
template <class T>
__device__ T chunk_sum_unrolled(const TaskChunk<T>& c) {
  constexpr int W = Pack16<T>::kSize;
  const Split16 sp = split16(c.data, c.n);
  const T* body = c.data + sp.head;
  T a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  if (threadIdx.x < sp.head) a0 += c.data[threadIdx.x] * c.data[threadIdx.x];
  std::int64_t i = threadIdx.x;
  for (; i + (kUnroll - 1) * kBlock < sp.nvec; i += kUnroll * kBlock) {
    // Four independent loads issued before any use: 64 bytes per thread in flight.
    const Pack16<T> p0 = load16_streaming(body + i * W);
    const Pack16<T> p1 = load16_streaming(body + (i + kBlock) * W);
    const Pack16<T> p2 = load16_streaming(body + (i + 2 * kBlock) * W);
    const Pack16<T> p3 = load16_streaming(body + (i + 3 * kBlock) * W);
    a0 += sum_sq(p0);
    a1 += sum_sq(p1);
    a2 += sum_sq(p2);
    a3 += sum_sq(p3);
  }
  for (; i < sp.nvec; i += kBlock) a0 += sum_sq(load16_streaming(body + i * W));
  const std::int64_t tail = sp.head + sp.nvec * W + threadIdx.x;
  if (tail < c.n) a0 += c.data[tail] * c.data[tail];
  return (a0 + a1) + (a2 + a3);
}

__device__ void write_task(int t, double sum, double* sq_norms, int* nonfinite) {
  sq_norms[t] = sum;
  nonfinite[t] = isfinite(sum) ? 0 : 1;
}

// ---- kernels -------------------------------------------------------------------------------------

// v1: grid = T blocks. pieces: grouped by task, task t's are [piece_begin[t], piece_begin[t+1]).
template <class T>
__global__ void __launch_bounds__(kBlock)
    norms_v1(const TaskPiece<T>* pieces, const std::int64_t* piece_begin, double* sq_norms, int* nonfinite) {
  const int t = blockIdx.x;
  T acc = 0;
  for (std::int64_t p = piece_begin[t]; p < piece_begin[t + 1]; ++p) {
    const T* x = pieces[p].data;
    const std::int64_t n = pieces[p].n;
    for (std::int64_t i = threadIdx.x; i < n; i += kBlock) acc += x[i] * x[i];
  }
  const T total = block_sum_tree(acc);
  if (threadIdx.x == 0) write_task(t, static_cast<double>(total), sq_norms, nonfinite);
}

// v2: grid = num_chunks blocks; partials[b] = sum of squares of chunk b.
template <class T>
__global__ void __launch_bounds__(kBlock) norms_v2(const TaskChunk<T>* chunks, double* partials) {
  const TaskChunk<T> c = chunks[blockIdx.x];
  T acc = 0;
  for (std::int64_t i = threadIdx.x; i < c.n; i += kBlock) acc += c.data[i] * c.data[i];
  const T total = block_sum_tree(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = static_cast<double>(total);
}

// v3: as v2, with 16-byte loads and shuffle reductions.
template <class T>
__global__ void __launch_bounds__(kBlock) norms_v3(const TaskChunk<T>* chunks, double* partials) {
  constexpr int W = Pack16<T>::kSize;
  const TaskChunk<T> c = chunks[blockIdx.x];
  const Split16 sp = split16(c.data, c.n);
  const T* body = c.data + sp.head;
  T acc = 0;
  if (threadIdx.x < sp.head) acc += c.data[threadIdx.x] * c.data[threadIdx.x];
  for (std::int64_t i = threadIdx.x; i < sp.nvec; i += kBlock) acc += sum_sq(load16(body + i * W));
  const std::int64_t tail = sp.head + sp.nvec * W + threadIdx.x;
  if (tail < c.n) acc += c.data[tail] * c.data[tail];
  const T total = block_sum_shfl(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = static_cast<double>(total);
}

// v4: as v3, four 16-byte streaming loads in flight per thread.
template <class T>
__global__ void __launch_bounds__(kBlock) norms_v4(const TaskChunk<T>* chunks, double* partials) {
  const TaskChunk<T> c = chunks[blockIdx.x];
  const T total = block_sum_shfl(chunk_sum_unrolled(c));
  if (threadIdx.x == 0) partials[blockIdx.x] = static_cast<double>(total);
}

// Finalize for v2..v4: grid = T blocks; task t's partials are [chunk_begin[t], chunk_begin[t+1]), added
// in a fixed order (thread k takes slots k, k + 256, ..., then the shuffle tree).
__global__ void __launch_bounds__(kBlock)
    norms_finalize(const double* partials, const std::int64_t* chunk_begin, double* sq_norms, int* nonfinite) {
  const int t = blockIdx.x;
  double acc = 0;
  for (std::int64_t i = chunk_begin[t] + threadIdx.x; i < chunk_begin[t + 1]; i += kBlock) acc += partials[i];
  const double total = block_sum_shfl(acc);
  if (threadIdx.x == 0) write_task(t, total, sq_norms, nonfinite);
}

// v5: v4's chunk sum, then the last block to finish for a task runs that task's finalize (the same
// arithmetic as norms_finalize). counters[t] counts arrivals and is reset to 0 by that last block, ready
// for the next launch (stream order makes the reset visible to it).
template <class T>
__global__ void __launch_bounds__(kBlock)
    norms_v5(const TaskChunk<T>* chunks, const std::int64_t* chunk_begin, double* partials, unsigned* counters,
             double* sq_norms, int* nonfinite) {
  const TaskChunk<T> c = chunks[blockIdx.x];
  const T total = block_sum_shfl(chunk_sum_unrolled(c));
  __shared__ bool is_last;
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = static_cast<double>(total);
    __threadfence();  // the partial is visible device-wide before the arrival is counted
    const auto count = static_cast<unsigned>(chunk_begin[c.task + 1] - chunk_begin[c.task]);
    is_last = atomicAdd(&counters[c.task], 1u) == count - 1;
  }
  __syncthreads();
  if (!is_last) return;  // uniform across the block
  __threadfence();       // pairs with the other blocks' fences before their atomicAdd
  const int t = c.task;
  double acc = 0;
  for (std::int64_t i = chunk_begin[t] + threadIdx.x; i < chunk_begin[t + 1]; i += kBlock)
    acc += __ldcg(partials + i);  // from L2, never a stale L1 line
  const double sum = block_sum_shfl(acc);
  if (threadIdx.x == 0) {
    write_task(t, sum, sq_norms, nonfinite);
    counters[t] = 0;
  }
}

// ---- host side -----------------------------------------------------------------------------------

// A device array that only grows (contents are discarded when it does).
template <class U>
class DeviceArray {
 public:
  DeviceArray() = default;
  ~DeviceArray() {
    if (ptr_ != nullptr) cudaFree(ptr_);  // no throw in a destructor
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  // Makes room for count elements. The caller has drained the stream that used the old buffer.
  void reserve(std::int64_t count) {
    count = std::max<std::int64_t>(count, 1);
    if (count <= capacity_) return;
    if (ptr_ != nullptr) GN_CUDA_CHECK(cudaFree(ptr_));
    ptr_ = nullptr;
    capacity_ = 0;
    GN_CUDA_CHECK(cudaMalloc(&ptr_, sizeof(U) * static_cast<std::size_t>(count)));
    capacity_ = count;
  }
  // host -> device on s. The host vector must stay unchanged until the copy has been staged, which
  // cudaMemcpyAsync from pageable memory guarantees on return; the table owns the vectors anyway.
  void upload(const std::vector<U>& host, cudaStream_t s) {
    reserve(static_cast<std::int64_t>(host.size()));
    if (!host.empty())
      GN_CUDA_CHECK(cudaMemcpyAsync(ptr_, host.data(), sizeof(U) * host.size(), cudaMemcpyHostToDevice, s));
  }
  U* get() const { return ptr_; }

 private:
  U* ptr_ = nullptr;
  std::int64_t capacity_ = 0;
};

template <class T>
bool same_piece(const TaskPiece<T>& a, const TaskPiece<T>& b) {
  return a.task == b.task && a.data == b.data && a.n == b.n;
}

}  // namespace

template <class T>
struct TaskPieceTable<T>::Impl {
  std::int64_t chunk_request = 0;  // 0: automatic
  cudaStream_t last_stream = nullptr;
  // Host copies: what the device arrays hold.
  int num_tasks = 0;
  std::vector<TaskPiece<T>> given;        // the caller's pieces, for the has-it-changed comparison
  std::vector<TaskPiece<T>> by_task;      // non-empty pieces, grouped by task, caller's order within
  std::vector<std::int64_t> piece_begin;  // (T + 1)
  std::vector<TaskChunk<T>> chunks;       // task-major work list
  std::vector<std::int64_t> chunk_begin;  // (T + 1)
  std::int64_t chunk = 0, total = 0, uploads = 0;
  bool has_set = false;
  // Device copies and scratch.
  DeviceArray<TaskPiece<T>> d_pieces;
  DeviceArray<std::int64_t> d_piece_begin;
  DeviceArray<TaskChunk<T>> d_chunks;
  DeviceArray<std::int64_t> d_chunk_begin;
  DeviceArray<double> d_partials;    // one per chunk
  DeviceArray<unsigned> d_counters;  // one per task (v5)

  ~Impl() {
    if (last_stream != nullptr) cudaStreamSynchronize(last_stream);  // queued kernels may still read us
  }
};

template <class T>
TaskPieceTable<T>::TaskPieceTable(std::int64_t chunk_elements) : impl_(std::make_unique<Impl>()) {
  GN_CHECK(chunk_elements >= 0 && chunk_elements % 16 == 0,
           "TaskPieceTable: chunk_elements must be 0 (automatic) or a positive multiple of 16, got {}", chunk_elements);
  impl_->chunk_request = chunk_elements;
}
template <class T>
TaskPieceTable<T>::~TaskPieceTable() = default;
template <class T>
TaskPieceTable<T>::TaskPieceTable(TaskPieceTable&&) noexcept = default;
template <class T>
TaskPieceTable<T>& TaskPieceTable<T>::operator=(TaskPieceTable&&) noexcept = default;

template <class T>
bool TaskPieceTable<T>::set(int num_tasks, std::span<const TaskPiece<T>> pieces, Stream s) {
  Impl& d = *impl_;
  if (d.has_set && d.num_tasks == num_tasks && d.given.size() == pieces.size() &&
      std::equal(pieces.begin(), pieces.end(), d.given.begin(), same_piece<T>))
    return false;

  GN_CHECK(num_tasks >= 0, "TaskPieceTable: num_tasks must be >= 0, got {}", num_tasks);
  std::int64_t total = 0;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    const TaskPiece<T>& p = pieces[k];
    GN_CHECK(p.task >= 0 && p.task < num_tasks, "TaskPieceTable: piece {} is for task {} but there are {} tasks", k,
             p.task, num_tasks);
    GN_CHECK(p.n >= 0, "TaskPieceTable: piece {} has n = {}", k, p.n);
    GN_CHECK(p.n == 0 || p.data != nullptr, "TaskPieceTable: piece {} has {} elements at a null pointer", k, p.n);
    GN_CHECK(reinterpret_cast<std::uintptr_t>(p.data) % sizeof(T) == 0,
             "TaskPieceTable: piece {} is not aligned to its element size", k);
    total += p.n;
  }

  // Chunk size: from the total alone, so the summation order never depends on the device.
  std::int64_t chunk = d.chunk_request;
  if (chunk == 0)
    chunk = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::bit_ceil(static_cast<std::uint64_t>(total / 1024))),
                                     2048, 65536);

  std::vector<TaskPiece<T>> by_task;
  std::vector<std::int64_t> piece_begin(num_tasks + 1, 0), chunk_begin(num_tasks + 1, 0);
  std::vector<TaskChunk<T>> chunks;
  std::vector<std::vector<std::size_t>> of_task(num_tasks);  // piece indices per task, caller's order
  for (std::size_t k = 0; k < pieces.size(); ++k)
    if (pieces[k].n > 0) of_task[pieces[k].task].push_back(k);
  for (int t = 0; t < num_tasks; ++t) {
    piece_begin[t] = static_cast<std::int64_t>(by_task.size());
    chunk_begin[t] = static_cast<std::int64_t>(chunks.size());
    for (std::size_t k : of_task[t]) {
      const TaskPiece<T>& p = pieces[k];
      by_task.push_back(p);
      for (std::int64_t off = 0; off < p.n; off += chunk)
        chunks.push_back({p.data + off, std::min(chunk, p.n - off), t});
    }
    if (static_cast<std::int64_t>(chunks.size()) == chunk_begin[t]) chunks.push_back({nullptr, 0, t});  // empty task
  }
  piece_begin[num_tasks] = static_cast<std::int64_t>(by_task.size());
  chunk_begin[num_tasks] = static_cast<std::int64_t>(chunks.size());
  GN_CHECK(static_cast<std::int64_t>(chunks.size()) <= INT_MAX,
           "TaskPieceTable: {} chunks exceed the grid limit; use a larger chunk_elements", chunks.size());

  // Until the upload has succeeded the table describes nothing (a reduction on it is a no-op), so a
  // failed upload cannot leave host and device copies that disagree.
  d.has_set = false;
  d.num_tasks = 0;
  if (d.last_stream != nullptr) GN_CUDA_CHECK(cudaStreamSynchronize(d.last_stream));  // before any buffer moves
  d.d_pieces.upload(by_task, s);
  d.d_piece_begin.upload(piece_begin, s);
  d.d_chunks.upload(chunks, s);
  d.d_chunk_begin.upload(chunk_begin, s);
  d.d_partials.reserve(static_cast<std::int64_t>(chunks.size()));
  d.d_counters.reserve(num_tasks);
  if (num_tasks > 0) GN_CUDA_CHECK(cudaMemsetAsync(d.d_counters.get(), 0, sizeof(unsigned) * num_tasks, s));

  d.num_tasks = num_tasks;
  d.given.assign(pieces.begin(), pieces.end());
  d.by_task = std::move(by_task);
  d.piece_begin = std::move(piece_begin);
  d.chunks = std::move(chunks);
  d.chunk_begin = std::move(chunk_begin);
  d.chunk = chunk;
  d.total = total;
  d.has_set = true;
  d.last_stream = s;
  ++d.uploads;
  return true;
}

template <class T>
int TaskPieceTable<T>::num_tasks() const {
  return impl_->num_tasks;
}
template <class T>
std::int64_t TaskPieceTable<T>::num_pieces() const {
  return static_cast<std::int64_t>(impl_->by_task.size());
}
template <class T>
std::int64_t TaskPieceTable<T>::num_chunks() const {
  return static_cast<std::int64_t>(impl_->chunks.size());
}
template <class T>
std::int64_t TaskPieceTable<T>::chunk_elements() const {
  return impl_->chunk;
}
template <class T>
std::int64_t TaskPieceTable<T>::total_elements() const {
  return impl_->total;
}
template <class T>
std::int64_t TaskPieceTable<T>::uploads() const {
  return impl_->uploads;
}

template <class T>
void per_task_sq_norms_variant(int variant, TaskPieceTable<T>& table, double* sq_norms, int* nonfinite, Stream s) {
  GN_CHECK(variant >= 1 && variant <= kTaskNormsVariants, "per_task_sq_norms: variant {} is not in [1, {}]", variant,
           kTaskNormsVariants);
  auto& d = table.impl();
  const int num_tasks = d.num_tasks;
  if (num_tasks == 0) return;
  GN_CHECK(sq_norms != nullptr && nonfinite != nullptr, "per_task_sq_norms: null output pointer");
  d.last_stream = s;
  const auto blocks = static_cast<unsigned>(d.chunks.size());
  switch (variant) {
    case 1:
      norms_v1<T><<<num_tasks, kBlock, 0, s>>>(d.d_pieces.get(), d.d_piece_begin.get(), sq_norms, nonfinite);
      GN_CUDA_CHECK_LAUNCH();
      return;
    case 2:
      norms_v2<T><<<blocks, kBlock, 0, s>>>(d.d_chunks.get(), d.d_partials.get());
      GN_CUDA_CHECK_LAUNCH();
      break;
    case 3:
      norms_v3<T><<<blocks, kBlock, 0, s>>>(d.d_chunks.get(), d.d_partials.get());
      GN_CUDA_CHECK_LAUNCH();
      break;
    case 4:
      norms_v4<T><<<blocks, kBlock, 0, s>>>(d.d_chunks.get(), d.d_partials.get());
      GN_CUDA_CHECK_LAUNCH();
      break;
    default:  // 5
      norms_v5<T><<<blocks, kBlock, 0, s>>>(d.d_chunks.get(), d.d_chunk_begin.get(), d.d_partials.get(),
                                            d.d_counters.get(), sq_norms, nonfinite);
      GN_CUDA_CHECK_LAUNCH();
      return;
  }
  norms_finalize<<<num_tasks, kBlock, 0, s>>>(d.d_partials.get(), d.d_chunk_begin.get(), sq_norms, nonfinite);
  GN_CUDA_CHECK_LAUNCH();
}

template <class T>
void per_task_sq_norms(TaskPieceTable<T>& table, double* sq_norms, int* nonfinite, Stream s) {
  per_task_sq_norms_variant(kTaskNormsDefaultVariant, table, sq_norms, nonfinite, s);
}

template class TaskPieceTable<float>;
template class TaskPieceTable<double>;
template void per_task_sq_norms<float>(TaskPieceTable<float>&, double*, int*, Stream);
template void per_task_sq_norms<double>(TaskPieceTable<double>&, double*, int*, Stream);
template void per_task_sq_norms_variant<float>(int, TaskPieceTable<float>&, double*, int*, Stream);
template void per_task_sq_norms_variant<double>(int, TaskPieceTable<double>&, double*, int*, Stream);

}  // namespace gn::cuda
