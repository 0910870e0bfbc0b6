// MPI: the CPU communicator, the process's MPI session, and the bootstrap NCCL uses. All of MPI is in
// this file. Without MPI in the build (GN_WITH_MPI unset) it compiles to stubs that throw, saying so.
//
// The deterministic all-reduce (see communicator.h, "Determinism"). For n elements and N ranks, rank r
// owns the chunk [off_r, off_r + len_r) (len_r = n/N, the first n%N ranks one more):
//   1. exchange (MPI_Alltoallv): every rank sends chunk r of its buffer to rank r, so rank r holds the N
//      contributions to its chunk, in rank order;
//   2. sum: rank r adds them in rank order, ((x_0 + x_1) + x_2) + ..., into its own chunk;
//   3. gather (MPI_Allgatherv, in place): every rank receives every chunk.
// Each element is summed once, in a fixed order, by one rank, and then copied: every rank ends with the
// same bits, and a fixed world size gives the same bits on every run whatever algorithms MPI picks. The
// traffic is that of a ring all-reduce (each rank sends and receives about 2n elements). Large buffers go
// in rounds of g_round_elements, so MPI's int counts never overflow and the scratch stays bounded.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "core/communicator_backends.h"

#ifdef GN_WITH_MPI
#include <mpi.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

// Every MPI call goes through it: on failure throws gn::Error naming the call, file, line and MPI's message.
// (MPI's default error handler aborts the job; the communicator installs MPI_ERRORS_RETURN on its own
// MPI communicator so errors reach this check.)
#define GN_MPI_CHECK(expr)                                                                                       \
  do {                                                                                                           \
    const int gn_mpi_rc_ = (expr);                                                                               \
    if (gn_mpi_rc_ != MPI_SUCCESS) {                                                                             \
      char gn_mpi_msg_[MPI_MAX_ERROR_STRING];                                                                    \
      int gn_mpi_len_ = 0;                                                                                       \
      if (MPI_Error_string(gn_mpi_rc_, gn_mpi_msg_, &gn_mpi_len_) != MPI_SUCCESS) gn_mpi_len_ = 0;               \
      GN_FAIL("MPI error {} ({}) in {} at {}:{}", gn_mpi_rc_, std::string_view(gn_mpi_msg_, gn_mpi_len_), #expr, \
              __FILE__, __LINE__);                                                                               \
    }                                                                                                            \
  } while (0)
#endif

namespace gn {

#ifdef GN_WITH_MPI

bool mpi_built() { return true; }

namespace detail {

bool mpi_initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

MpiWorld mpi_world() {
  GN_CHECK(mpi_initialized(), "MPI is not initialised: create a gn::MpiSession at the start of main()");
  MpiWorld w;
  GN_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank));
  GN_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &w.size));
  MPI_Comm local = MPI_COMM_NULL;
  GN_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local));
  const int rc = MPI_Comm_rank(local, &w.local_rank);
  MPI_Comm_free(&local);
  GN_MPI_CHECK(rc);
  return w;
}

void mpi_broadcast_bytes(void* data, std::size_t bytes, int root) {
  GN_CHECK(mpi_initialized(), "MPI is not initialised: create a gn::MpiSession at the start of main()");
  auto* p = static_cast<char*>(data);
  constexpr std::size_t kChunk = std::size_t{1} << 30;  // MPI counts are int
  for (std::size_t done = 0; done < bytes; done += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, bytes - done));
    GN_MPI_CHECK(MPI_Bcast(p + done, n, MPI_BYTE, root, MPI_COMM_WORLD));
  }
}

}  // namespace detail

namespace {

std::int64_t g_round_elements = std::int64_t{1} << 24;  // 64-128 MiB of data per round

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int64:
      return MPI_INT64_T;
  }
  GN_FAIL("mpi: dtype {} has no MPI type", dtype_name(t));
}

// out[i] = ((parts[0][i] + parts[1][i]) + parts[2][i]) + ...: parts is (ranks, len), out is (len).
template <class T>
void sum_in_rank_order(const T* parts, int ranks, int len, T* out) {
  std::copy(parts, parts + len, out);
  for (int r = 1; r < ranks; ++r) {
    const T* p = parts + static_cast<std::int64_t>(r) * len;
    for (int i = 0; i < len; ++i) out[i] += p[i];
  }
}

// One all-reduce of data[0, n) (host memory) over comm: the rounds of the exchange-sum-gather above.
// start() posts the first round's exchange without blocking; finish() completes it and runs the others.
class AllReduce {
 public:
  AllReduce(MPI_Comm comm, int rank, int size, void* data, std::int64_t n, DType dtype)
      : comm_(comm),
        rank_(rank),
        size_(size),
        data_(static_cast<char*>(data)),
        n_(n),
        dtype_(dtype),
        type_(mpi_type(dtype)),
        esize_(dtype_size(dtype)),
        round_(g_round_elements) {}
  AllReduce(const AllReduce&) = delete;
  AllReduce& operator=(const AllReduce&) = delete;
  ~AllReduce() {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);  // finish() threw half way
  }

  void start() {
    if (n_ > 0) post(0);
  }
  // Lets MPI move the posted exchange along (MPI_Test); a completed request becomes MPI_REQUEST_NULL, which
  // complete()'s MPI_Wait then returns at once.
  void progress() {
    if (request_ == MPI_REQUEST_NULL) return;
    int done = 0;
    GN_MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
  }
  void finish() {
    for (std::int64_t begin = 0; begin < n_; begin += round_) {
      if (begin > 0) post(begin);
      complete();
    }
  }

 private:
  // Posts the exchange of the round starting at element `begin`.
  void post(std::int64_t begin) {
    begin_ = begin;
    const auto n = static_cast<int>(std::min(round_, n_ - begin));
    counts_.assign(size_, 0);
    displs_.assign(size_, 0);
    for (int r = 0, off = 0; r < size_; ++r) {
      counts_[r] = n / size_ + (r < n % size_ ? 1 : 0);
      displs_[r] = off;
      off += counts_[r];
    }
    const int mine = counts_[rank_];
    recv_counts_.assign(size_, mine);
    recv_displs_.resize(size_);
    for (int r = 0; r < size_; ++r) recv_displs_[r] = r * mine;
    scratch_.resize(static_cast<std::size_t>(size_) * mine * esize_);
    GN_MPI_CHECK(MPI_Ialltoallv(data_ + begin * esize_, counts_.data(), displs_.data(), type_, scratch_.data(),
                                recv_counts_.data(), recv_displs_.data(), type_, comm_, &request_));
  }
  // Waits for the posted exchange, sums this rank's chunk in rank order, gathers every chunk.
  void complete() {
    GN_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE));
    char* round = data_ + begin_ * esize_;
    const int mine = counts_[rank_];
    char* out = round + static_cast<std::size_t>(displs_[rank_]) * esize_;
    switch (dtype_) {
      case DType::Float32:
        sum_in_rank_order(reinterpret_cast<const float*>(scratch_.data()), size_, mine, reinterpret_cast<float*>(out));
        break;
      case DType::Float64:
        sum_in_rank_order(reinterpret_cast<const double*>(scratch_.data()), size_, mine,
                          reinterpret_cast<double*>(out));
        break;
      case DType::Int64:
        sum_in_rank_order(reinterpret_cast<const std::int64_t*>(scratch_.data()), size_, mine,
                          reinterpret_cast<std::int64_t*>(out));
        break;
    }
    GN_MPI_CHECK(
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, round, counts_.data(), displs_.data(), type_, comm_));
  }

  MPI_Comm comm_;
  int rank_, size_;
  char* data_;
  std::int64_t n_;
  DType dtype_;
  MPI_Datatype type_;
  std::size_t esize_;
  std::int64_t round_;  // elements per round
  std::int64_t begin_ = 0;
  std::vector<int> counts_, displs_, recv_counts_, recv_displs_;
  std::vector<std::byte> scratch_;  // (size, counts_[rank]) elements: every rank's part of this rank's chunk
  MPI_Request request_ = MPI_REQUEST_NULL;
};

// The handle of a non-blocking all-reduce: keeps the tensor (its storage) alive until the wait.
class MpiPending final : public CommHandle::Impl {
 public:
  MpiPending(Tensor t, std::unique_ptr<AllReduce> op) : t_(std::move(t)), op_(std::move(op)) {}
  void wait() override { op_->finish(); }
  void progress() override { op_->progress(); }

 private:
  Tensor t_;
  std::unique_ptr<AllReduce> op_;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    GN_CHECK(detail::mpi_initialized(),
             "communicator mpi: MPI is not initialised: create a gn::MpiSession at the start of main() and "
             "launch with mpirun");
    const detail::MpiWorld w = detail::mpi_world();
    rank_ = w.rank;
    size_ = w.size;
    local_rank_ = w.local_rank;
    // A communicator of our own: our collectives never match the application's, and errors come back
    // to GN_MPI_CHECK instead of aborting inside MPI.
    GN_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    GN_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  }
  ~MpiCommunicator() override {
    if (detail::mpi_initialized()) MPI_Comm_free(&comm_);
  }

  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  void all_reduce_sum(Tensor& t) override {
    check_tensor(t, "all_reduce_sum");
    AllReduce op(comm_, rank_, size_, t.raw_data(), t.numel(), t.dtype());
    op.start();
    op.finish();
  }
  void all_reduce_sum(std::span<double> values) override {
    check_same_everywhere({static_cast<std::int64_t>(values.size()), -1, -1, 0}, "all_reduce_sum(host values)");
    AllReduce op(comm_, rank_, size_, values.data(), static_cast<std::int64_t>(values.size()), DType::Float64);
    op.start();
    op.finish();
  }
  CommHandle start_all_reduce_sum(Tensor& t) override {
    check_tensor(t, "start_all_reduce_sum");
    auto op = std::make_unique<AllReduce>(comm_, rank_, size_, t.raw_data(), t.numel(), t.dtype());
    op->start();
    return CommHandle(std::make_unique<MpiPending>(t, std::move(op)));
  }
  void broadcast(Tensor& t, int root) override {
    GN_CHECK(t.defined(), "broadcast: the tensor is undefined");
    GN_CHECK(root >= 0 && root < size_, "broadcast: root {} is not a rank of a world of size {}", root, size_);
    GN_CHECK(t.device().is_cpu(), "broadcast: the mpi communicator takes CPU tensors, not {} (use nccl)",
             to_string(t.device()));
    check_same_everywhere(signature(t), "broadcast");
    auto* p = static_cast<char*>(t.raw_data());
    constexpr std::size_t kChunk = std::size_t{1} << 30;
    for (std::size_t done = 0; done < t.nbytes(); done += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, t.nbytes() - done));
      GN_MPI_CHECK(MPI_Bcast(p + done, n, MPI_BYTE, root, comm_));
    }
  }
  void barrier() override { GN_MPI_CHECK(MPI_Barrier(comm_)); }

 private:
  using Signature = std::array<std::int64_t, 4>;  // numel, dtype, rank (dim), hash of the shape

  static Signature signature(const Tensor& t) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the extents
    for (std::int64_t e : t.shape()) h = (h ^ static_cast<std::uint64_t>(e)) * 1099511628211ull;
    return {t.numel(), static_cast<std::int64_t>(t.dtype()), t.dim(), static_cast<std::int64_t>(h >> 1)};
  }

  void check_tensor(const Tensor& t, const char* who) {
    detail::check_summable(t, who);
    GN_CHECK(t.device().is_cpu(), "{}: the mpi communicator takes CPU tensors, not {} (use nccl)", who,
             to_string(t.device()));
    check_same_everywhere(signature(t), who);
  }

  // Every rank passes its own signature; when any two differ, EVERY rank throws (none is left waiting in
  // the collective that would follow). One small all-gather: a few microseconds on one machine.
  void check_same_everywhere(const Signature& mine, const char* who) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(size_) * mine.size());
    GN_MPI_CHECK(MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_INT64_T, all.data(),
                               static_cast<int>(mine.size()), MPI_INT64_T, comm_));
    for (int r = 0; r < size_; ++r) {
      const std::int64_t* theirs = all.data() + static_cast<std::size_t>(r) * mine.size();
      if (!std::equal(mine.begin(), mine.end(), theirs)) {
        const std::int64_t* first = all.data();
        GN_FAIL(
            "{}: the ranks disagree: rank 0 has {} elements (dtype {}, {} dims), rank {} has {} elements (dtype "
            "{}, {} dims); every rank must pass the same shape and dtype",
            who, first[0], first[1] < 0 ? "float64" : dtype_name(static_cast<DType>(first[1])), first[2], r, theirs[0],
            theirs[1] < 0 ? "float64" : dtype_name(static_cast<DType>(theirs[1])), theirs[2]);
      }
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

namespace detail {
std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }
std::int64_t set_mpi_round_elements(std::int64_t n) {
  GN_CHECK(n >= 1 && n <= (std::int64_t{1} << 28), "set_mpi_round_elements({}): 1 .. 2^28", n);
  return std::exchange(g_round_elements, n);
}
}  // namespace detail

// ---- the session ----

MpiSession::MpiSession(int& argc, char**& argv, bool force) : uncaught_at_start_(std::uncaught_exceptions()) {
  if (!force && launcher_world_size() == 0) return;
  int initialized = 0;
  GN_MPI_CHECK(MPI_Initialized(&initialized));
  GN_CHECK(!initialized, "MpiSession: MPI is already initialised (one MpiSession per process)");
  int provided = 0;
  GN_MPI_CHECK(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided));
  active_ = true;
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

MpiSession::~MpiSession() {
  if (!active_ || !detail::mpi_initialized()) return;
  if (std::uncaught_exceptions() > uncaught_at_start_) {
    std::fprintf(stderr, "gradnorm: an exception is leaving main: aborting the MPI job\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
}

int MpiSession::run(const std::function<int()>& body) {
  int code = 1;
  std::string error;
  try {
    code = body();
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  int rank = 0, size = 1;
  if (active_ && detail::mpi_initialized()) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
  }
  if (!error.empty()) {
    if (size > 1)
      std::fprintf(stderr, "error (rank %d of %d): %s\n", rank, size, error.c_str());
    else
      std::fprintf(stderr, "error: %s\n", error.c_str());
  }
  if (code != 0 && size > 1) {
    // The other ranks may be blocked in a collective waiting for this one: end them all.
    std::fflush(stderr);
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  return code;
}

#else  // no MPI in this build

bool mpi_built() { return false; }

namespace detail {
bool mpi_initialized() { return false; }
std::int64_t set_mpi_round_elements(std::int64_t) { return 0; }
MpiWorld mpi_world() { return {}; }
void mpi_broadcast_bytes(void*, std::size_t, int root) {
  GN_CHECK(root == 0, "broadcast from rank {}: this build has no MPI (world size 1)", root);
}
std::unique_ptr<Communicator> make_mpi_communicator() {
  GN_FAIL(
      "communicator mpi: this build has no MPI (CMake's FindMPI found none: install libopenmpi-dev, "
      "scripts/setup.sh, and reconfigure; or use single)");
}
}  // namespace detail

MpiSession::MpiSession(int&, char**&, bool force) : uncaught_at_start_(std::uncaught_exceptions()) {
  GN_CHECK(!force, "MpiSession: this build has no MPI");
}

MpiSession::~MpiSession() = default;

int MpiSession::run(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "error: unknown exception\n");
  }
  return 1;
}

#endif

}  // namespace gn
