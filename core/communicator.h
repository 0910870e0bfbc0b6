#pragma once
// The communicator: how N processes (ranks) of one data-parallel run sum their numbers. One interface,
// three implementations, picked by make_communicator():
//   single  one process (the default): every collective is the identity; no dependency
//   mpi     CPU tensors over MPI (core/communicator_mpi.cpp; builds with MPI, GN_WITH_MPI)
//   nccl    CUDA tensors over NCCL, one process per GPU, bootstrapped over MPI (core/communicator_nccl.cpp;
//           builds with CUDA and NCCL, GN_WITH_NCCL)
// A build without MPI or NCCL still compiles and links: asking for the missing one throws, saying why.
//
// Launch: `mpirun -np N app ...` (as root, OpenMPI also needs --allow-run-as-root; with more ranks than
// cores, --oversubscribe). main() owns an MpiSession (below) before any communicator exists.
//
// Collectives are collective: every rank calls the same ones, in the same order, with tensors of the same
// shape and dtype (the MPI communicator checks shape and dtype and throws on every rank when they differ).
//
// Determinism (docs/data-parallel.md, "Determinism"). After all_reduce_sum every rank holds a BITWISE
// identical result, and for a fixed world size the result is the same on every run: each element is
// summed in rank order, ((x_0 + x_1) + x_2) + ... + x_{N-1}, by exactly one rank, and then copied to the
// others. The MPI communicator does this itself (a reduce-scatter in rank order plus an all-gather) rather
// than trusting MPI_Allreduce, whose summation order the MPI standard leaves to the implementation (and
// OpenMPI changes with message size, world size and tuning parameters). Integer sums are exact.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace gn {

// A collective in flight (start_all_reduce_sum). wait() blocks until the result is in the tensor; it is
// idempotent. Destroying a handle that was not waited for waits (an unfinished collective cannot be
// abandoned: its buffers are still being read and written). Handles must be waited for in the same order
// on every rank. Move-only.
class CommHandle {
 public:
  struct Impl {
    virtual ~Impl() = default;
    virtual void wait() = 0;  // throws gn::Error on failure
    // Advances the collective without blocking. MPI moves a posted non-blocking exchange only inside MPI
    // calls, so an overlapped reduction calls this while the backward runs (MPI_Test); a no-op elsewhere.
    virtual void progress() {}
  };
  CommHandle() = default;  // a completed handle
  explicit CommHandle(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
  CommHandle(CommHandle&&) noexcept = default;
  CommHandle& operator=(CommHandle&& other) noexcept;
  ~CommHandle();

  void wait();
  void progress();  // see Impl::progress; nothing for a completed handle
  bool pending() const { return impl_ != nullptr; }

 private:
  std::unique_ptr<Impl> impl_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual std::string name() const = 0;  // "single", "mpi" or "nccl"
  virtual int rank() const = 0;          // 0 .. size()-1
  virtual int size() const = 0;          // the world size N
  virtual int local_rank() const = 0;    // rank among the processes on this machine (picks the GPU)

  // t <- sum over ranks of t, in place. float32, float64 or int64; CPU tensors for MPI, CUDA tensors for
  // NCCL (single takes either). Blocking: on return t holds the sum (on CUDA: stream-ordered, i.e. the
  // sum is enqueued on the device's stream and later work on that stream sees it).
  virtual void all_reduce_sum(Tensor& t) = 0;
  // values <- sum over ranks of values, in place: host numbers (metric accumulators, losses, counts).
  virtual void all_reduce_sum(std::span<double> values) = 0;
  // The non-blocking all_reduce_sum: starts the sum and returns at once; the handle's wait() finishes it.
  // Until then t must not be read or written. The handle keeps t's storage alive.
  virtual CommHandle start_all_reduce_sum(Tensor& t) = 0;
  // t <- rank root's t, on every rank (any dtype).
  virtual void broadcast(Tensor& t, int root) = 0;
  // Returns once every rank has entered it (on CUDA also: once this device's queued work has finished).
  virtual void barrier() = 0;

  bool is_root() const { return rank() == 0; }
};

// kind: "auto" | "single" | "mpi" | "nccl". auto: "mpi" when the process was started by an MPI launcher
// (launcher_world_size() > 0) and the build has MPI, else "single"; auto throws when a launcher started
// several ranks but the build has no MPI (each rank would silently train alone). "mpi" and "nccl" need an
// initialised MpiSession (nccl at world size 1 does not). Throws gn::Error for an unknown kind or one this
// build does not have, naming what is missing.
std::unique_ptr<Communicator> make_communicator(std::string_view kind = "auto");

bool mpi_built();   // this build has the MPI communicator
bool nccl_built();  // this build has the NCCL communicator
// The world size an MPI launcher announced in the environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
// PMIX_SIZE, MPI_LOCALNRANKS), 0 when the process was not started by one.
int launcher_world_size();

// Owns MPI for the process: main() creates one, first, and every communicator dies before it.
//   - constructor: MPI_Init_thread (MPI_THREAD_FUNNELED: only the main thread calls MPI; OpenMP threads
//     do not) when the build has MPI and the process was started by an MPI launcher, or `force` is set;
//     otherwise it does nothing (a plain `./app` never touches MPI).
//   - destructor: MPI_Finalize, or MPI_Abort(1) when it runs during stack unwinding (an exception leaving
//     main): finalizing then would wait forever for ranks blocked in a collective.
//   - run(body): main's body. An exception out of it is printed with the rank and, in a world of more than
//     one rank, ends the whole job with MPI_Abort; so does a non-zero return code. Either way the other
//     ranks, possibly blocked in a collective with this one, do not hang, and mpirun exits non-zero.
// A rank that calls exit() without finalizing is caught by the launcher itself (OpenMPI's mpirun then
// kills the job and exits non-zero).
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv, bool force = false);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool active() const { return active_; }  // this session initialised MPI
  int run(const std::function<int()>& body);

 private:
  bool active_ = false;
  int uncaught_at_start_ = 0;
};

}  // namespace gn
