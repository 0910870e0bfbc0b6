#pragma once
// Per-task gradient-norm reduction (GradNorm step 4) on CUDA: T segments, each a list of device pieces,
// to T squared norms in one launch, deterministic (per-block partial slots and a fixed-order final sum,
// no float atomics), non-finite values flagged per task, 64-bit indices throughout. Same contract as
// kernels/cpu/task_norms.h except that every pointer is a device pointer and nothing comes back to the host.
//
// Use:
//   TaskPieceTable<float> table;                       // once, e.g. a member of the training step
//   table.set(T, pieces, s);                           // every step: re-uploads only if the pieces changed
//   per_task_sq_norms(table, sq_norms, flags, s);      // sq_norms: (T) double, flags: (T) int, on device
//
// The numbered variants (1 = naive .. kTaskNormsVariants = fastest) stay side by side for the kernel lab
// (benchmarks/kernel_lab/task_norms_lab.cpp); task_norms.cu explains what each one changes and why.
// Plain C++ header: includes no CUDA headers.
#include <cstdint>
#include <memory>
#include <span>

#include "kernels/cpu/task_norms.h"
#include "kernels/cuda/stream.h"

namespace gn::cuda {

// {task, data, n}: n contiguous elements at data (a DEVICE pointer) add into sq_norms[task]. Pieces may
// alias each other (the reduction only reads).
template <class T>
using TaskPiece = cpu::TaskPiece<T>;

inline constexpr int kTaskNormsVariants = 5;
// The variant per_task_sq_norms() runs. 5 = v4's loads plus the in-kernel finalize (one launch): it
// should be the fastest at every size (same loop as v4; one launch fewer). Confirm with the lab on a GPU.
inline constexpr int kTaskNormsDefaultVariant = 5;

// The device copy of a piece list, in the layouts the kernels read, plus their scratch:
//   - the pieces grouped by task (stable: each task's pieces keep the caller's order), for v1;
//   - a work list of chunks: every piece cut into chunks of chunk_elements() (the last one shorter),
//     task-major, so chunk b of the list is block b of the grid; a task with no elements gets one empty
//     chunk so that it still has a block to write its zero (v2..v5);
//   - one double partial slot per chunk, and one arrival counter per task (v5).
// The chunking is a function of the pieces alone (never of the device), so the summation order, and thus
// the bits of the result, are the same on every GPU.
//
// Not thread-safe, and one reduction at a time per table: two reductions using the same table must be
// ordered on one stream (they share the partial slots and counters).
template <class T>
class TaskPieceTable {
 public:
  // chunk_elements: elements per work-list chunk, a multiple of 16 (keeps 16-byte alignment from chunk
  // to chunk), or 0 to choose from the total size: clamp(bit_ceil(total / 1024), 2048, 65536).
  explicit TaskPieceTable(std::int64_t chunk_elements = 0);
  ~TaskPieceTable();
  TaskPieceTable(TaskPieceTable&&) noexcept;
  TaskPieceTable& operator=(TaskPieceTable&&) noexcept;
  TaskPieceTable(const TaskPieceTable&) = delete;
  TaskPieceTable& operator=(const TaskPieceTable&) = delete;

  // Makes the table describe these pieces. If num_tasks and the pieces (task, data, n, in order) equal
  // the last set() this is a host-side comparison and nothing else (returns false); otherwise it rebuilds
  // the work list and uploads it on stream s (returns true). The upload reads host memory the table owns,
  // so the caller's span may die at once. Throws on a task outside [0, num_tasks), n < 0, a null or
  // misaligned (not a multiple of sizeof(T)) data pointer with n > 0, or num_tasks < 0.
  bool set(int num_tasks, std::span<const TaskPiece<T>> pieces, Stream s);

  int num_tasks() const;
  std::int64_t num_pieces() const;      // non-empty pieces
  std::int64_t num_chunks() const;      // work-list entries = blocks of v2..v5
  std::int64_t chunk_elements() const;  // in effect for the current pieces
  std::int64_t total_elements() const;
  std::int64_t uploads() const;  // how many times set() has uploaded (tests check the caching)

  struct Impl;  // device layout; defined in task_norms.cu
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// sq_norms[t] = sum over task t's pieces of sum_j data[j]^2, for t in [0, table.num_tasks()).
// nonfinite[t] = 1 if sq_norms[t] is not finite (an inf or NaN element, or, for float input, a partial
// sum overflowing float: |g| > ~1e19, a diverged run either way), else 0.
// sq_norms: (T) double, nonfinite: (T) int, both device pointers; both overwritten for every t, also for
// tasks without elements (0 and 0). Float input accumulates in float within a chunk and in double across
// chunks; double input in double throughout. Deterministic: the same pieces give the same bits.
// Runs kTaskNormsDefaultVariant.
template <class T>
void per_task_sq_norms(TaskPieceTable<T>& table, double* sq_norms, int* nonfinite, Stream s);

// The same with an explicit variant in [1, kTaskNormsVariants], for the kernel lab and the tests.
template <class T>
void per_task_sq_norms_variant(int variant, TaskPieceTable<T>& table, double* sq_norms, int* nonfinite, Stream s);

}  // namespace gn::cuda
