#pragma once
// An in-process Communicator for tests: N "ranks" are N threads of one process, each with its own
// ThreadCommunicator over one shared ThreadWorld. It sums exactly as the MPI communicator does (every
// element in rank order, ((x_0 + x_1) + x_2) + ..., in the tensor's dtype), so a test can run the
// data-parallel step (or any collective code) on N replicas without mpirun, and compare with one process.
//
//   ThreadWorld world(3);
//   run_ranks(world, [&](Communicator& comm) { ...; });  // one thread per rank; rethrows a rank's exception
#include <barrier>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/communicator.h"
#include "core/error.h"

namespace gn::testing_support {

struct ThreadWorld {
  explicit ThreadWorld(int n) : size(n), sync(n), inputs(static_cast<std::size_t>(n)) {}
  int size;
  std::barrier<> sync;
  std::vector<void*> inputs;  // each rank's buffer for the collective in progress
};

class ThreadCommunicator : public Communicator {
 public:
  ThreadCommunicator(ThreadWorld& world, int rank) : world_(world), rank_(rank) {}
  std::string name() const override { return "thread"; }
  int rank() const override { return rank_; }
  int size() const override { return world_.size; }
  int local_rank() const override { return rank_; }

  void all_reduce_sum(Tensor& t) override {
    GN_CHECK(t.device().is_cpu(), "ThreadCommunicator: CPU tensors only");
    switch (t.dtype()) {
      case DType::Float32:
        sum_in_rank_order(std::span<float>(t.data<float>(), static_cast<std::size_t>(t.numel())));
        break;
      case DType::Float64:
        sum_in_rank_order(std::span<double>(t.data<double>(), static_cast<std::size_t>(t.numel())));
        break;
      case DType::Int64:
        sum_in_rank_order(std::span<std::int64_t>(t.data<std::int64_t>(), static_cast<std::size_t>(t.numel())));
        break;
      default:
        GN_FAIL("ThreadCommunicator: all_reduce_sum of {}", dtype_name(t.dtype()));
    }
  }
  void all_reduce_sum(std::span<double> values) override { sum_in_rank_order(values); }
  CommHandle start_all_reduce_sum(Tensor& t) override {
    all_reduce_sum(t);
    return {};
  }
  void broadcast(Tensor& t, int root) override {
    world_.inputs[static_cast<std::size_t>(rank_)] = t.raw_data();
    world_.sync.arrive_and_wait();
    if (rank_ != root)
      std::memcpy(t.raw_data(), world_.inputs[static_cast<std::size_t>(root)], t.numel() * dtype_size(t.dtype()));
    world_.sync.arrive_and_wait();
  }
  void barrier() override { world_.sync.arrive_and_wait(); }

 private:
  template <class T>
  void sum_in_rank_order(std::span<T> mine) {
    world_.inputs[static_cast<std::size_t>(rank_)] = mine.data();
    world_.sync.arrive_and_wait();  // every rank's input is in place
    std::vector<T> sum(mine.size());
    for (std::size_t k = 0; k < mine.size(); ++k) {
      T s = static_cast<const T*>(world_.inputs[0])[k];
      for (int r = 1; r < world_.size; ++r)
        s = s + static_cast<const T*>(world_.inputs[static_cast<std::size_t>(r)])[k];
      sum[k] = s;
    }
    world_.sync.arrive_and_wait();  // every rank has read every input
    std::copy(sum.begin(), sum.end(), mine.begin());
  }

  ThreadWorld& world_;
  int rank_;
};

// Runs body(comm) on world.size threads, rank r's comm a ThreadCommunicator of rank r; joins them and
// rethrows the first exception. A rank that throws leaves the others blocked, so bodies must not throw
// in the middle of collectives (tests assert after them).
inline void run_ranks(ThreadWorld& world, const std::function<void(Communicator&)>& body) {
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(world.size));
  std::vector<std::thread> threads;
  for (int r = 0; r < world.size; ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(world, r);
      try {
        body(comm);
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace gn::testing_support
