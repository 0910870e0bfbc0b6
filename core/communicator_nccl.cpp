// NCCL: the GPU communicator, one process per GPU. All of NCCL is in this file. Without NCCL in the build
// (GN_WITH_NCCL unset: no CUDA, or nccl.h / libnccl not found; see CMakeLists.txt, NCCL_ROOT) it compiles
// to a stub that throws, saying so.
//
// Setup: the world (rank, size, local rank) comes from MPI when an MpiSession initialised it; otherwise
// the process is alone (world size 1, no MPI needed). The local rank picks the GPU (cudaSetDevice), so the
// communicator must be made before the first CUDA tensor or kernel: the caching allocator and the
// per-device context (kernels/cuda/context.h) follow the current device, and "cuda:0" in a Device then
// means "this process's GPU". Rank 0 makes the ncclUniqueId and broadcasts it over MPI; every rank calls
// ncclCommInitRank.
//
// Streams: every NCCL call of this communicator runs on its own communication stream, so a bucket's
// all-reduce overlaps the backward kernels that follow it on the compute stream (the device's one stream,
// kernels/cuda/context.h). Two events fence each collective, with no host sync:
//   start: record `ready` on the compute stream (after the kernels that wrote the tensor, e.g. the bucket's
//          pack), make the communication stream wait for it, enqueue the collective there, record `done`;
//   wait:  make the compute stream wait for `done`, so every later kernel sees the sum.
// The caching allocator's stream rule (a freed block goes to the next request at once, which is safe only
// when all of its users are ordered on one stream) still holds: the only memory the communication stream
// touches is the collective's tensor, which the handle keeps alive until wait() has ordered the compute
// stream after `done`; a block freed after that is reused by compute-stream work queued behind the fence.
// The blocking calls are start + wait (stream-ordered, still no host sync), so all of this communicator's
// collectives run in one stream in program order, the same order on every rank, as NCCL requires.
//
// Determinism: NCCL's all-reduce algorithms (ring: reduce-scatter then all-gather; tree: reduce then
// broadcast; NVLS/CollNet: reduce in the switch, then multicast) compute each output element once and copy
// it, so the ranks agree; the order of the sum depends on the algorithm, protocol and topology NCCL picks,
// so pin NCCL_ALGO and NCCL_PROTO for bit-identical runs (docs/data-parallel.md).
#include "core/communicator_backends.h"

#ifdef GN_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/cuda/check.h"
#include "kernels/cuda/stream.h"

#define GN_NCCL_CHECK(expr)                                                                                        \
  do {                                                                                                             \
    const ncclResult_t gn_nccl_st_ = (expr);                                                                       \
    if (gn_nccl_st_ != ncclSuccess)                                                                                \
      GN_FAIL("NCCL error {} ({}) in {} at {}:{}", static_cast<int>(gn_nccl_st_), ncclGetErrorString(gn_nccl_st_), \
              #expr, __FILE__, __LINE__);                                                                          \
  } while (0)
#endif

namespace gn {

#ifdef GN_WITH_NCCL

bool nccl_built() { return true; }

namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::Int64:
      return ncclInt64;
  }
  GN_FAIL("nccl: dtype {} has no NCCL type", dtype_name(t));
}

// A collective in flight on the communication stream; wait() orders the compute stream after it.
class NcclHandle final : public CommHandle::Impl {
 public:
  explicit NcclHandle(Tensor tensor) : tensor_(std::move(tensor)) {
    GN_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }
  NcclHandle(const NcclHandle&) = delete;
  NcclHandle& operator=(const NcclHandle&) = delete;
  ~NcclHandle() override {
    if (done_ == nullptr) return;
    // Not waited for (CommHandle waits before destroying; this is the exception path): fence anyway, so a
    // later kernel cannot reuse the tensor's block while NCCL may still write it. Waiting for an event that
    // was never recorded is a no-op. Errors cannot be thrown here.
    cudaStreamWaitEvent(cuda::current_stream(), done_, 0);
    cudaEventDestroy(done_);
  }
  void record_done(cudaStream_t comm_stream) { GN_CUDA_CHECK(cudaEventRecord(done_, comm_stream)); }
  void wait() override {
    if (done_ == nullptr) return;
    GN_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), done_, 0));
    // Destroying a recorded event before it completes is safe: CUDA releases it once it has.
    GN_CUDA_CHECK(cudaEventDestroy(done_));
    done_ = nullptr;
    tensor_ = Tensor();  // the block may now go back to the allocator: the compute stream is fenced
  }

 private:
  Tensor tensor_;  // keeps the storage alive while the communication stream uses it
  cudaEvent_t done_ = nullptr;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator() {
    if (detail::mpi_initialized()) {
      const detail::MpiWorld w = detail::mpi_world();
      rank_ = w.rank;
      size_ = w.size;
      local_rank_ = w.local_rank;
    } else {
      const int launched = launcher_world_size();
      GN_CHECK(launched <= 1,
               "communicator nccl: an MPI launcher started {} ranks but MPI is not initialised (NCCL's setup "
               "goes over MPI: create a gn::MpiSession at the start of main(), in a build with MPI)",
               launched);
    }
    int devices = 0;
    GN_CUDA_CHECK(cudaGetDeviceCount(&devices));
    GN_CHECK(local_rank_ < devices,
             "communicator nccl: local rank {} but this machine shows {} CUDA device(s); NCCL needs one GPU "
             "per process (launch at most {} ranks per machine)",
             local_rank_, devices, devices);
    GN_CUDA_CHECK(cudaSetDevice(local_rank_));
    ncclUniqueId id{};
    if (rank_ == 0) GN_NCCL_CHECK(ncclGetUniqueId(&id));
    if (size_ > 1) detail::mpi_broadcast_bytes(&id, sizeof id, 0);
    GN_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
    GN_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
    GN_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  }
  ~NcclCommunicator() override {
    // Handles have been waited for (they die before their communicator), but their collectives may still
    // run: drain the communication stream before the communicator and the stream go.
    if (comm_stream_ != nullptr) cudaStreamSynchronize(comm_stream_);
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (comm_stream_ != nullptr) cudaStreamDestroy(comm_stream_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  std::string name() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  // Stream-ordered: later work on the compute stream sees the sum; the host does not wait.
  void all_reduce_sum(Tensor& t) override { start_all_reduce_sum(t).wait(); }
  // Host numbers: through a device buffer (a sync point: for metrics and logging, not the training step).
  void all_reduce_sum(std::span<double> values) override {
    if (values.empty()) return;
    Tensor d = Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())}, DType::Float64, cuda_device(0));
    all_reduce_sum(d);
    const std::vector<double> sum = d.to_vector();
    std::copy(sum.begin(), sum.end(), values.begin());
  }
  // Enqueued on the communication stream behind the compute stream's work so far; compute kernels queued
  // before wait() run alongside it (the overlap).
  CommHandle start_all_reduce_sum(Tensor& t) override {
    check_tensor(t, "all_reduce_sum");
    if (t.numel() == 0) return {};
    auto handle = std::make_unique<NcclHandle>(t);
    follow_compute_stream();
    GN_NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<std::size_t>(t.numel()), nccl_type(t.dtype()),
                                ncclSum, comm_, comm_stream_));
    handle->record_done(comm_stream_);
    return CommHandle(std::move(handle));
  }
  void broadcast(Tensor& t, int root) override {
    GN_CHECK(t.defined(), "broadcast: the tensor is undefined");
    GN_CHECK(root >= 0 && root < size_, "broadcast: root {} is not a rank of a world of size {}", root, size_);
    GN_CHECK(t.device().is_cuda(), "broadcast: the nccl communicator takes CUDA tensors, not {}",
             to_string(t.device()));
    if (t.numel() == 0) return;
    NcclHandle handle(t);
    follow_compute_stream();
    GN_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), t.nbytes(), ncclInt8, root, comm_, comm_stream_));
    handle.record_done(comm_stream_);
    handle.wait();
  }
  void barrier() override {
    Tensor one = Tensor::zeros({1}, DType::Float32, cuda_device(0));
    all_reduce_sum(one);
    GN_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
  }

 private:
  // The communication stream waits for everything queued on the compute stream so far.
  void follow_compute_stream() {
    GN_CUDA_CHECK(cudaEventRecord(ready_, cuda::current_stream()));
    GN_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_, 0));  // captures ready_ now: it can be re-recorded
  }

  static void check_tensor(const Tensor& t, const char* who) {
    detail::check_summable(t, who);
    GN_CHECK(t.device().is_cuda(), "{}: the nccl communicator takes CUDA tensors, not {} (use mpi for CPU ranks)", who,
             to_string(t.device()));
  }

  ncclComm_t comm_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;  // every collective of this communicator runs here
  cudaEvent_t ready_ = nullptr;         // compute stream -> communication stream, re-recorded per collective
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

namespace detail {
std::unique_ptr<Communicator> make_nccl_communicator() { return std::make_unique<NcclCommunicator>(); }
}  // namespace detail

#else  // no NCCL in this build

bool nccl_built() { return false; }

namespace detail {
std::unique_ptr<Communicator> make_nccl_communicator() {
#ifdef GN_WITH_CUDA
  GN_FAIL(
      "communicator nccl: this build has no NCCL (nccl.h and libnccl were not found at configure time: set "
      "NCCL_ROOT to the folder holding include/nccl.h and lib/libnccl.so*, and reconfigure)");
#else
  GN_FAIL("communicator nccl: this build has no CUDA backend, so no NCCL (nvcc was not found at configure time)");
#endif
}
}  // namespace detail

#endif

}  // namespace gn
