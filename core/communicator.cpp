// The communicator's front: handles, the single-process communicator and the factory. MPI lives in
// communicator_mpi.cpp, NCCL in communicator_nccl.cpp.
#include "core/communicator.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/communicator_backends.h"

namespace gn {

// ---- CommHandle ----

CommHandle& CommHandle::operator=(CommHandle&& other) noexcept {
  if (this != &other) {
    if (impl_) {
      // The handle being replaced still owns a collective in flight: finish it first (as ~CommHandle).
      CommHandle finished(std::move(impl_));
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

CommHandle::~CommHandle() {
  if (!impl_) return;
  try {
    impl_->wait();
  } catch (const std::exception& e) {
    // A destructor cannot throw, and a collective that failed half way cannot be abandoned safely (its
    // buffers may still be written): end the process, which also ends an MPI job (see MpiSession).
    std::fprintf(stderr, "gradnorm: a collective failed while its handle was destroyed: %s\n", e.what());
    std::terminate();
  }
}

void CommHandle::progress() {
  if (impl_) impl_->progress();
}

void CommHandle::wait() {
  if (!impl_) return;
  // Reset before rethrowing: a failed collective is not waited for a second time by the destructor.
  std::unique_ptr<Impl> impl = std::move(impl_);
  impl->wait();
}

namespace detail {

void check_summable(const Tensor& t, const char* who) {
  GN_CHECK(t.defined(), "{}: the tensor is undefined", who);
  GN_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64 || t.dtype() == DType::Int64,
           "{}: dtype {} cannot be summed (float32, float64 or int64)", who, dtype_name(t.dtype()));
}

}  // namespace detail

// ---- single process ----

namespace {

// World size 1: every collective is the identity (the sum over one rank is that rank's value). It still
// checks its arguments, so code that works here does not fail first under mpirun.
class SingleProcess final : public Communicator {
 public:
  std::string name() const override { return "single"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  void all_reduce_sum(Tensor& t) override { detail::check_summable(t, "all_reduce_sum"); }
  void all_reduce_sum(std::span<double>) override {}
  CommHandle start_all_reduce_sum(Tensor& t) override {
    detail::check_summable(t, "start_all_reduce_sum");
    return {};
  }
  void broadcast(Tensor& t, int root) override {
    GN_CHECK(t.defined(), "broadcast: the tensor is undefined");
    GN_CHECK(root == 0, "broadcast: root {} is not a rank of a world of size 1", root);
  }
  void barrier() override {}
};

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n > 0 && n < (1 << 24)) ? static_cast<int>(n) : 0;
}

}  // namespace

int launcher_world_size() {
  // OpenMPI's mpirun; PMI (MPICH/Hydra, Slurm's srun); PMIx; Intel MPI's MPI_LOCALNRANKS is local only.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (const int n = env_int(name)) return n;
  return 0;
}

std::unique_ptr<Communicator> make_communicator(std::string_view kind) {
  if (kind == "single") return std::make_unique<SingleProcess>();
  if (kind == "mpi") return detail::make_mpi_communicator();
  if (kind == "nccl") return detail::make_nccl_communicator();
  GN_CHECK(kind == "auto", "communicator '{}': expected auto, single, mpi or nccl", kind);
  const int launched = launcher_world_size();
  if (launched > 0 && mpi_built()) return detail::make_mpi_communicator();
  GN_CHECK(launched <= 1,
           "communicator auto: an MPI launcher started {} ranks, but this build has no MPI (install "
           "libopenmpi-dev and reconfigure, GRADNORM_MPI=ON); without it every rank would train alone",
           launched);
  return std::make_unique<SingleProcess>();
}

}  // namespace gn
