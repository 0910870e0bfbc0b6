#include "core/dispatch_gradnorm.h"

#include <vector>

#include "core/dispatch_cuda.h"
#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cpu/weighted_loss.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/gradnorm_update.h"
#include "kernels/cuda/task_norms.h"
#include "kernels/cuda/weighted_loss.h"
#endif

namespace gn::dispatch {

template <class T>
void multitask_mse(Device d, int num_tasks, std::int64_t n, const T* const* preds, const T* const* targets, const T* w,
                   double* losses, T* const* grads) {
  if (d.is_cpu()) return cpu::multitask_mse<T>(num_tasks, n, preds, targets, w, losses, grads);
  GN_CUDA(cuda::multitask_mse<T>(num_tasks, n, preds, targets, w, losses, grads, stream));
}

template <class T>
void combine_task_blocks(Device d, std::int64_t B, int num_tasks, std::int64_t D, const T* deltas, const T* w, T* out) {
  if (d.is_cpu()) return cpu::combine_task_blocks<T>(B, num_tasks, D, deltas, w, out);
  GN_CUDA(cuda::combine_task_blocks<T>(B, num_tasks, D, deltas, w, out, stream));
}

template <class W>
void record_nonfinite(Device d, int num_tasks, const double* losses, const double* sq_norms, const W* weights,
                      std::int64_t step, std::int64_t* record) {
  if (d.is_cpu()) return cpu::record_nonfinite<W>(num_tasks, losses, sq_norms, weights, step, record);
  GN_CUDA(cuda::record_nonfinite<W>(num_tasks, losses, sq_norms, weights, step, record, stream));
}

template <class W>
void gradnorm_update(Device d, int num_tasks, const double* losses, const double* norms, const int* norm_flags,
                     const GradNormBuffers& buffers, W* weights_out, const GradNormUpdateOptions& options,
                     std::int64_t update) {
  if (d.is_cpu())
    return cpu::gradnorm_update<W>(num_tasks, losses, norms, norm_flags, buffers, weights_out, options, update);
  GN_CUDA(
      cuda::gradnorm_update<W>(num_tasks, losses, norms, norm_flags, buffers, weights_out, options, update, stream));
}

#define GN_INSTANTIATE(T)                                                                                              \
  template void multitask_mse<T>(Device, int, std::int64_t, const T* const*, const T* const*, const T*, double*,       \
                                 T* const*);                                                                           \
  template void record_nonfinite<T>(Device, int, const double*, const double*, const T*, std::int64_t, std::int64_t*); \
  template void combine_task_blocks<T>(Device, std::int64_t, int, std::int64_t, const T*, const T*, T*);               \
  template void gradnorm_update<T>(Device, int, const double*, const double*, const int*, const GradNormBuffers&, T*,  \
                                   const GradNormUpdateOptions&, std::int64_t);
GN_INSTANTIATE(float)
GN_INSTANTIATE(double)
#undef GN_INSTANTIATE

// ---- per-task norms ----

#ifdef GN_WITH_CUDA
struct TaskNormPlan::Impl {  // the uploaded segment tables, one per dtype
  cuda::TaskPieceTable<float> f32;
  cuda::TaskPieceTable<double> f64;
};
#else
struct TaskNormPlan::Impl {};
#endif

TaskNormPlan::TaskNormPlan() : impl_(std::make_unique<Impl>()) {}
TaskNormPlan::~TaskNormPlan() = default;
TaskNormPlan::TaskNormPlan(TaskNormPlan&&) noexcept = default;
TaskNormPlan& TaskNormPlan::operator=(TaskNormPlan&&) noexcept = default;

namespace {
template <class T, class Piece>
std::vector<Piece> pieces_of(std::span<const TaskSegment> segments) {
  std::vector<Piece> out;
  out.reserve(segments.size());
  for (const auto& s : segments) out.push_back({s.task, static_cast<const T*>(s.data), s.n});
  return out;
}
template <class T>
void cpu_task_norms(int num_tasks, std::span<const TaskSegment> segments, double* sq, int* nonfinite) {
  const auto pieces = pieces_of<T, cpu::TaskPiece<T>>(segments);
  const auto flags = std::make_unique<bool[]>(static_cast<std::size_t>(num_tasks));
  cpu::per_task_sq_norms<T>(num_tasks, pieces, sq, flags.get());
  for (int i = 0; i < num_tasks; ++i) nonfinite[i] = flags[static_cast<std::size_t>(i)] ? 1 : 0;
}
#ifdef GN_WITH_CUDA
template <class T>
void cuda_task_norms(cuda::TaskPieceTable<T>& table, int num_tasks, std::span<const TaskSegment> segments, double* sq,
                     int* nonfinite, cuda::Stream stream) {
  const auto pieces = pieces_of<T, cuda::TaskPiece<T>>(segments);
  table.set(num_tasks, pieces, stream);  // a host-side comparison when nothing changed
  cuda::per_task_sq_norms<T>(table, sq, nonfinite, stream);
}
#endif
}  // namespace

void TaskNormPlan::run(Device d, DType dtype, int num_tasks, std::span<const TaskSegment> segments, double* sq_norms,
                       int* nonfinite) {
  GN_CHECK(dtype == DType::Float32 || dtype == DType::Float64, "task norms: float32 or float64 gradients, got {}",
           dtype_name(dtype));
  const bool f32 = dtype == DType::Float32;
  if (d.is_cpu()) {
    return f32 ? cpu_task_norms<float>(num_tasks, segments, sq_norms, nonfinite)
               : cpu_task_norms<double>(num_tasks, segments, sq_norms, nonfinite);
  }
  GN_CUDA(f32 ? cuda_task_norms<float>(impl_->f32, num_tasks, segments, sq_norms, nonfinite, stream)
              : cuda_task_norms<double>(impl_->f64, num_tasks, segments, sq_norms, nonfinite, stream));
}

}  // namespace gn::dispatch
