// The communicator in one process: the single communicator's identity semantics and argument checks, the
// factory, and what a build without MPI or NCCL says. The MPI communicator with 2 and 3 ranks is tested in
// tests/mpi/ (under mpirun); NCCL at world size 1 here, on a GPU.
#include "core/communicator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/ops.h"
#include "tests/cuda_test_support.h"

namespace gn {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Sets an environment variable for the scope of a test, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Clears every variable launcher_world_size() reads, so the test runs as if not under mpirun.
struct NotLaunched {
  ScopedEnv a{"OMPI_COMM_WORLD_SIZE", nullptr}, b{"PMI_SIZE", nullptr}, c{"PMIX_SIZE", nullptr},
      d{"MPI_LOCALNRANKS", nullptr};
};

TEST(Communicator, SingleIsTheIdentity) {
  auto comm = make_communicator("single");
  EXPECT_EQ(comm->name(), "single");
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->local_rank(), 0);
  EXPECT_TRUE(comm->is_root());

  const std::vector<double> values = {1.5, -2.25, 1e-30, 3.0e30};
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor t = Tensor::from_vector(values, {2, 2}, dtype);
    const std::vector<double> before = t.to_vector();
    comm->all_reduce_sum(t);
    EXPECT_EQ(t.to_vector(), before) << dtype_name(dtype);
    EXPECT_EQ(t.shape(), (Shape{2, 2}));
    CommHandle h = comm->start_all_reduce_sum(t);
    EXPECT_FALSE(h.pending());
    h.wait();
    h.wait();  // idempotent
    EXPECT_EQ(t.to_vector(), before);
    comm->broadcast(t, 0);
    EXPECT_EQ(t.to_vector(), before);
  }
  const std::vector<std::int64_t> labels = {3, -7, 1LL << 40};
  Tensor ints = Tensor::from_labels(labels, {3});
  comm->all_reduce_sum(ints);
  EXPECT_EQ(ints.to_vector(), (std::vector<double>{3, -7, static_cast<double>(1LL << 40)}));

  std::vector<double> host = {0.1, 0.2, 0.3};
  comm->all_reduce_sum(std::span<double>(host));
  EXPECT_EQ(host, (std::vector<double>{0.1, 0.2, 0.3}));
  comm->all_reduce_sum(std::span<double>());  // empty: fine
  Tensor empty = Tensor::zeros({0, 3});
  comm->all_reduce_sum(empty);
  comm->barrier();
}

TEST(Communicator, SingleChecksItsArguments) {
  auto comm = make_communicator("single");
  Tensor undefined;
  EXPECT_THAT(error_of([&] { comm->all_reduce_sum(undefined); }), HasSubstr("undefined"));
  EXPECT_THAT(error_of([&] { comm->start_all_reduce_sum(undefined); }), HasSubstr("undefined"));
  EXPECT_THAT(error_of([&] { comm->broadcast(undefined, 0); }), HasSubstr("undefined"));
  Tensor t = Tensor::ones({3});
  EXPECT_THAT(error_of([&] { comm->broadcast(t, 1); }), HasSubstr("root 1 is not a rank of a world of size 1"));
  EXPECT_THAT(error_of([&] { comm->broadcast(t, -1); }), HasSubstr("root -1"));
}

TEST(Communicator, FactoryKinds) {
  NotLaunched env;
  EXPECT_EQ(launcher_world_size(), 0);
  EXPECT_EQ(make_communicator("auto")->name(), "single");
  EXPECT_EQ(make_communicator()->name(), "single");
  EXPECT_THAT(error_of([] { make_communicator("gloo"); }), HasSubstr("expected auto, single, mpi or nccl"));
  // Not under mpirun, so MPI is not initialised: mpi says how to start it (or that it is not built).
  const std::string mpi_error = error_of([] { make_communicator("mpi"); });
  if (mpi_built())
    EXPECT_THAT(mpi_error, HasSubstr("MpiSession"));
  else
    EXPECT_THAT(mpi_error, HasSubstr("this build has no MPI"));
  if (!nccl_built()) {
    EXPECT_THAT(error_of([] { make_communicator("nccl"); }), HasSubstr("no NCCL"));
  }
}

TEST(Communicator, LauncherWorldSizeFromTheEnvironment) {
  NotLaunched env;
  {
    ScopedEnv s("OMPI_COMM_WORLD_SIZE", "3");
    EXPECT_EQ(launcher_world_size(), 3);
  }
  {
    ScopedEnv s("PMI_SIZE", "2");
    EXPECT_EQ(launcher_world_size(), 2);
  }
  {
    ScopedEnv s("PMI_SIZE", "two");  // garbage is "not launched"
    EXPECT_EQ(launcher_world_size(), 0);
  }
}

TEST(Communicator, AutoRefusesSeveralRanksWithoutMpi) {
  if (mpi_built()) GTEST_SKIP() << "this build has MPI; auto would initialise the MPI communicator";
  NotLaunched env;
  ScopedEnv s("OMPI_COMM_WORLD_SIZE", "2");
  EXPECT_THAT(error_of([] { make_communicator("auto"); }), HasSubstr("started 2 ranks, but this build has no MPI"));
}

TEST(Communicator, SessionOutsideALauncherDoesNothing) {
  NotLaunched env;
  int argc = 1;
  char name[] = "test";
  char* args[] = {name, nullptr};
  char** argv = args;
  MpiSession session(argc, argv);
  EXPECT_FALSE(session.active());
  EXPECT_EQ(session.run([] { return 0; }), 0);
  EXPECT_EQ(session.run([] { return 3; }), 3);
  testing::internal::CaptureStderr();
  EXPECT_EQ(session.run([]() -> int { GN_FAIL("boom"); }), 1);
  EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("error: boom"));
}

// NCCL at world size 1 (no MPI needed): the sum over one rank is the identity, on the GPU's stream.
TEST(Communicator, NcclWorldSizeOne) {
  GN_SKIP_WITHOUT_CUDA();
  if (!nccl_built()) GTEST_SKIP() << "this build has no NCCL (set NCCL_ROOT and reconfigure)";
  NotLaunched env;
  auto comm = make_communicator("nccl");
  EXPECT_EQ(comm->name(), "nccl");
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->rank(), 0);
  const std::vector<double> values = {1.5, -2.25, 1e-30, 3.0e30, 7, 8};
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor t = Tensor::from_vector(values, {2, 3}, dtype, cuda_device(0));
    const std::vector<double> before = t.to_vector();
    comm->all_reduce_sum(t);
    EXPECT_EQ(t.to_vector(), before);
    CommHandle h = comm->start_all_reduce_sum(t);
    h.wait();
    EXPECT_EQ(t.to_vector(), before);
    comm->broadcast(t, 0);
    EXPECT_EQ(t.to_vector(), before);
  }
  const std::vector<std::int64_t> labels = {3, -7, 1LL << 40};
  Tensor ints = Tensor::from_labels(labels, {3}, cuda_device(0));
  comm->all_reduce_sum(ints);
  EXPECT_EQ(ints.to_vector(), (std::vector<double>{3, -7, static_cast<double>(1LL << 40)}));
  std::vector<double> host = {0.1, 0.2};
  comm->all_reduce_sum(std::span<double>(host));
  EXPECT_EQ(host, (std::vector<double>{0.1, 0.2}));
  comm->barrier();
  Tensor cpu = Tensor::ones({2});
  EXPECT_THAT(error_of([&] { comm->all_reduce_sum(cpu); }), HasSubstr("takes CUDA tensors"));
}

// The communication stream's fences (core/communicator_nccl.cpp): a started all-reduce is pending, kernels
// queued between start and wait run, a kernel writing the tensor just before each start is seen, and a
// tensor dropped while its handle is pending is kept alive until the wait. At world size 1 NCCL's sum is
// the identity, so this checks the plumbing and, under compute-sanitizer, the memory; the ordering across
// ranks needs 2 GPUs.
TEST(Communicator, NcclStartWaitFencesTheComputeStream) {
  GN_SKIP_WITHOUT_CUDA();
  if (!nccl_built()) GTEST_SKIP() << "this build has no NCCL (set NCCL_ROOT and reconfigure)";
  NotLaunched env;
  auto comm = make_communicator("nccl");
  Tensor t = Tensor::ones({1 << 20}, DType::Float32, cuda_device(0));
  Tensor other = Tensor::ones({1 << 20}, DType::Float32, cuda_device(0));
  for (int i = 0; i < 20; ++i) {
    scale_(t, 2.0);  // on the compute stream, just before the start
    CommHandle h = comm->start_all_reduce_sum(t);
    EXPECT_TRUE(h.pending());
    scale_(other, 0.5);  // compute work between start and wait
    h.wait();
    EXPECT_FALSE(h.pending());
  }
  const std::vector<double> tv = t.to_vector();
  const std::vector<double> ov = other.to_vector();
  EXPECT_EQ(tv.front(), 1048576.0);
  EXPECT_EQ(tv.back(), 1048576.0);
  EXPECT_EQ(ov.back(), std::ldexp(1.0, -20));
  // A handle outliving its tensor variable: the handle keeps the storage; destroying it waits.
  {
    CommHandle h;
    const void* tmp_data = nullptr;
    {
      Tensor tmp = Tensor::full({4096}, 3.0, DType::Float64, cuda_device(0));
      tmp_data = tmp.raw_data();
      h = comm->start_all_reduce_sum(tmp);
    }
    Tensor during = Tensor::zeros({4096}, DType::Float64, cuda_device(0));
    EXPECT_NE(during.raw_data(), tmp_data);  // the pending handle still owns tmp's block
    h.wait();
    Tensor after = Tensor::zeros({4096}, DType::Float64, cuda_device(0));  // may reuse it now, behind the fence
    EXPECT_EQ(after.to_vector().back(), 0.0);
    EXPECT_EQ(during.to_vector().back(), 0.0);
  }
}

}  // namespace
}  // namespace gn
