// The MPI communicator with several ranks: run under mpirun (tests/CMakeLists.txt registers it for 2 and 3
// ranks). Every rank runs every test; each test makes the same collectives in the same order on all ranks.
//
// The sums are checked exactly: every rank can compute every other rank's contribution (a function of the
// rank and the index), so each rank computes the expected sum itself, in rank order, in the tensor's type,
// and compares bits. Bitwise agreement across ranks is checked by broadcasting rank 0's result.
//
// `--fail=throw|exit|return` instead runs a failure scenario: the last rank fails while the others wait in
// a collective for it; the job must end with a non-zero exit code instead of hanging
// (tests/mpi/expect_job_failure.sh runs it with a time limit).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "core/communicator_backends.h"

namespace gn {
namespace {

Communicator* g_comm = nullptr;

// Rank r's value at index i: wide dynamic range and both signs, so the order of a float sum matters.
double contribution(int rank, std::int64_t i) {
  const double x = std::sin(0.7 * static_cast<double>(i) + 1.3 * rank + 0.1);
  const double scale = std::pow(10.0, static_cast<double>((i * 7 + rank * 3) % 17) - 8);
  return x * scale;
}

template <class T>
std::vector<T> local_values(int rank, std::int64_t n) {
  std::vector<T> v(n);
  for (std::int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(contribution(rank, i));
  return v;
}

// The sum over ranks in rank order, ((x_0 + x_1) + x_2) + ..., in T: what the communicator promises.
template <class T>
std::vector<T> expected_sum(int ranks, std::int64_t n) {
  std::vector<T> sum = local_values<T>(0, n);
  for (int r = 1; r < ranks; ++r) {
    const std::vector<T> v = local_values<T>(r, n);
    for (std::int64_t i = 0; i < n; ++i) sum[i] += v[i];
  }
  return sum;
}

template <class T>
Tensor tensor_of(const std::vector<T>& v, const Shape& shape) {
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));  // an empty vector's data() may be null
  return t;
}

// True when t's bytes equal rank 0's t (every rank gets the same answer).
bool same_bits_as_rank0(const Tensor& t) {
  Tensor copy = t.clone();
  g_comm->broadcast(copy, 0);
  return t.nbytes() == 0 || std::memcmp(copy.raw_data(), t.raw_data(), t.nbytes()) == 0;  // null data when empty
}

template <class T>
void check_all_reduce(std::int64_t n) {
  const int rank = g_comm->rank(), size = g_comm->size();
  Tensor t = tensor_of(local_values<T>(rank, n), {n});
  g_comm->all_reduce_sum(t);
  const std::vector<T> want = expected_sum<T>(size, n);
  ASSERT_EQ(t.numel(), n);
  EXPECT_TRUE(n == 0 || std::memcmp(t.raw_data(), want.data(), n * sizeof(T)) == 0)  // null data when empty
      << dtype_name(dtype_of<T>()) << " n=" << n << " rank " << rank;
  EXPECT_TRUE(same_bits_as_rank0(t)) << "n=" << n;
}

TEST(MpiCommunicator, World) {
  EXPECT_EQ(g_comm->name(), "mpi");
  EXPECT_GE(g_comm->size(), 2);
  EXPECT_EQ(g_comm->size(), launcher_world_size());
  EXPECT_GE(g_comm->rank(), 0);
  EXPECT_LT(g_comm->rank(), g_comm->size());
  EXPECT_EQ(g_comm->local_rank(), g_comm->rank());  // one machine
  EXPECT_EQ(g_comm->is_root(), g_comm->rank() == 0);
  // auto under mpirun is mpi, with the same world.
  auto other = make_communicator("auto");
  EXPECT_EQ(other->name(), "mpi");
  EXPECT_EQ(other->size(), g_comm->size());
  EXPECT_EQ(other->rank(), g_comm->rank());
  other->barrier();
}

// The data can tell summation orders apart: with 3 or more ranks, summing in reverse rank order gives
// different bits for some elements (with 2, a + b == b + a exactly, so only agreement is checked).
TEST(MpiCommunicator, TheTestDataDetectsTheSummationOrder) {
  const int size = g_comm->size();
  if (size < 3) GTEST_SKIP() << "two ranks: float addition is commutative, every order gives the same bits";
  const std::int64_t n = 1001;
  const std::vector<float> forward = expected_sum<float>(size, n);
  std::vector<float> backward = local_values<float>(size - 1, n);
  for (int r = size - 2; r >= 0; --r) {
    const std::vector<float> v = local_values<float>(r, n);
    for (std::int64_t i = 0; i < n; ++i) backward[i] += v[i];
  }
  int differ = 0;
  for (std::int64_t i = 0; i < n; ++i) differ += forward[i] != backward[i];
  EXPECT_GT(differ, 0);
}

TEST(MpiCommunicator, AllReduceIsTheRankOrderSumOnEveryRank) {
  // Fewer elements than ranks, not a multiple of the world size, empty, and larger.
  for (std::int64_t n : {0, 1, 2, 3, 5, 64, 1001, 100003}) {
    check_all_reduce<float>(n);
    check_all_reduce<double>(n);
  }
}

TEST(MpiCommunicator, AllReduceInSeveralRounds) {
  const std::int64_t old = detail::set_mpi_round_elements(7);
  for (std::int64_t n : {6, 7, 8, 50}) {
    check_all_reduce<float>(n);
    check_all_reduce<double>(n);
  }
  detail::set_mpi_round_elements(old);
}

TEST(MpiCommunicator, AllReduceKeepsTheShapeAndSumsInt64Exactly) {
  const int rank = g_comm->rank(), size = g_comm->size();
  std::vector<std::int64_t> v = {rank, -3 * rank, (std::int64_t{1} << 50) + rank, 1};
  Tensor t = tensor_of(v, {2, 2});
  g_comm->all_reduce_sum(t);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  const std::int64_t ranks_sum = std::int64_t{size} * (size - 1) / 2;
  const std::int64_t* got = t.data<std::int64_t>();
  EXPECT_EQ(got[0], ranks_sum);
  EXPECT_EQ(got[1], -3 * ranks_sum);
  EXPECT_EQ(got[2], (std::int64_t{1} << 50) * size + ranks_sum);
  EXPECT_EQ(got[3], size);
}

TEST(MpiCommunicator, AllReduceOfAViewTouchesOnlyTheView) {
  const int size = g_comm->size();
  Tensor base = Tensor::full({4, 3}, 1.0, DType::Float64);
  Tensor rows = base.slice(1, 3);  // rows 1 and 2
  g_comm->all_reduce_sum(rows);
  const std::vector<double> got = base.to_vector();
  for (int i = 0; i < 12; ++i) EXPECT_EQ(got[i], (i >= 3 && i < 9) ? size : 1.0) << i;
}

TEST(MpiCommunicator, HostValues) {
  const int rank = g_comm->rank(), size = g_comm->size();
  std::vector<double> v = local_values<double>(rank, 5);
  g_comm->all_reduce_sum(std::span<double>(v));
  const std::vector<double> want = expected_sum<double>(size, 5);
  EXPECT_EQ(std::memcmp(v.data(), want.data(), sizeof(double) * 5), 0);
  std::vector<double> none;
  g_comm->all_reduce_sum(std::span<double>(none));
}

TEST(MpiCommunicator, Broadcast) {
  const int rank = g_comm->rank(), size = g_comm->size();
  for (int root = 0; root < size; ++root) {
    for (DType dtype : {DType::Float32, DType::Float64}) {
      Tensor t = Tensor::full({3, 2}, 10.0 * rank + 0.5, dtype);
      g_comm->broadcast(t, root);
      for (double x : t.to_vector()) EXPECT_EQ(x, 10.0 * root + 0.5) << "root " << root;
    }
    Tensor labels = tensor_of(std::vector<std::int64_t>{rank, rank + 100}, {2});
    g_comm->broadcast(labels, root);
    EXPECT_EQ(labels.to_vector(), (std::vector<double>{double(root), double(root + 100)}));
  }
}

TEST(MpiCommunicator, StartAllReduceThenWait) {
  const int rank = g_comm->rank(), size = g_comm->size();
  Tensor a = tensor_of(local_values<float>(rank, 1001), {1001});
  Tensor b = tensor_of(local_values<double>(rank, 37), {37});
  CommHandle ha = g_comm->start_all_reduce_sum(a);
  CommHandle hb = g_comm->start_all_reduce_sum(b);  // two in flight
  EXPECT_TRUE(ha.pending());
  ha.wait();
  EXPECT_FALSE(ha.pending());
  hb.wait();
  hb.wait();  // idempotent
  const std::vector<float> wa = expected_sum<float>(size, 1001);
  const std::vector<double> wb = expected_sum<double>(size, 37);
  EXPECT_EQ(std::memcmp(a.raw_data(), wa.data(), a.nbytes()), 0);
  EXPECT_EQ(std::memcmp(b.raw_data(), wb.data(), b.nbytes()), 0);
  EXPECT_TRUE(same_bits_as_rank0(a));

  // Several rounds, and a handle destroyed without wait(): its destructor finishes the collective.
  const std::int64_t old = detail::set_mpi_round_elements(5);
  Tensor c = tensor_of(local_values<float>(rank, 23), {23});
  { CommHandle hc = g_comm->start_all_reduce_sum(c); }
  detail::set_mpi_round_elements(old);
  const std::vector<float> wc = expected_sum<float>(size, 23);
  EXPECT_EQ(std::memcmp(c.raw_data(), wc.data(), c.nbytes()), 0);
}

TEST(MpiCommunicator, RanksThatDisagreeAllThrow) {
  const int rank = g_comm->rank();
  // Rank 0 passes 3 elements, the others 4: every rank throws, none hangs.
  Tensor t = Tensor::ones({rank == 0 ? 3 : 4});
  try {
    g_comm->all_reduce_sum(t);
    ADD_FAILURE() << "no error on rank " << rank;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the ranks disagree"), std::string::npos) << e.what();
  }
  Tensor d = Tensor::ones({2}, rank == 0 ? DType::Float32 : DType::Float64);
  EXPECT_THROW(g_comm->broadcast(d, 0), Error);
  std::vector<double> host(rank == 0 ? 1 : 2, 1.0);
  EXPECT_THROW(g_comm->all_reduce_sum(std::span<double>(host)), Error);
  // The communicator still works afterwards.
  check_all_reduce<float>(10);
  // Arguments wrong on every rank throw before any communication.
  Tensor undefined;
  EXPECT_THROW(g_comm->all_reduce_sum(undefined), Error);
  EXPECT_THROW(g_comm->broadcast(t, g_comm->size()), Error);
  g_comm->barrier();
}

// The failure scenarios: the last rank fails, the others block in an all-reduce waiting for it.
int failure_scenario(const std::string& how) {
  const int last = g_comm->size() - 1;
  g_comm->barrier();
  if (g_comm->rank() == last) {
    if (how == "throw") GN_FAIL("deliberate failure on rank {}", last);
    if (how == "exit") std::exit(1);
    if (how == "return") return 2;
    GN_FAIL("unknown --fail={}", how);
  }
  Tensor t = Tensor::ones({4});
  g_comm->all_reduce_sum(t);  // never completes: rank `last` is gone
  std::fprintf(stderr, "rank %d: the all-reduce returned although rank %d failed\n", g_comm->rank(), last);
  return 0;
}

}  // namespace
}  // namespace gn

int main(int argc, char** argv) {
  gn::MpiSession mpi(argc, argv, /*force=*/true);
  std::string fail;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--fail=", 7) == 0) fail = argv[i] + 7;
  ::testing::InitGoogleTest(&argc, argv);
  return mpi.run([&] {
    std::unique_ptr<gn::Communicator> comm = gn::make_communicator("mpi");
    gn::g_comm = comm.get();
    const int rc = fail.empty() ? RUN_ALL_TESTS() : gn::failure_scenario(fail);
    gn::g_comm = nullptr;
    return rc;  // comm dies here, before MPI_Finalize
  });
}
