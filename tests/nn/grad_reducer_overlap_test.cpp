// nn::GradReducer's overlapped mode (begin, backward with its hook, finish) against reduce(), with a recording
// stand-in for a communicator: the reduced gradients are bit for bit reduce()'s, buckets are planned in reverse
// parameter order and STARTED strictly in bucket order whatever order their gradients become ready in, the
// first bucket starts while the backward is still running, and misuse is refused. (Real ranks: the toy under
// mpirun, tests/mpi/toy_data_parallel.sh, runs the step's overlapped path.)
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/communicator.h"
#include "core/grad_ready.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/grad_reducer.h"
#include "tests/nn/error_of.h"

namespace gn::nn {
namespace {

// x <- (x + x) + x: what three ranks holding the same numbers get, summed in rank order. Applied at wait(),
// as the MPI communicator finishes its sum there, so a bucket touched between start and wait would show.
void triple(Tensor& t) {
  GN_DISPATCH_FLOAT(t.dtype(), "triple", [&] {
    scalar_t* p = t.data<scalar_t>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = (p[i] + p[i]) + p[i];
  });
}

class RecordingComm final : public Communicator {
 public:
  std::vector<std::int64_t> started;  // numel of each start_all_reduce_sum, in call order
  std::vector<std::int64_t> waited;
  std::vector<std::int64_t> progressed;  // numel of the bucket at each progress() call
  std::function<void()> on_start;        // a probe run at every start

  std::string name() const override { return "recording"; }
  int rank() const override { return 0; }
  int size() const override { return 3; }
  int local_rank() const override { return 0; }
  void all_reduce_sum(Tensor& t) override { triple(t); }
  void all_reduce_sum(std::span<double> values) override {
    for (double& v : values) v = (v + v) + v;
  }
  CommHandle start_all_reduce_sum(Tensor& t) override {
    started.push_back(t.numel());
    if (on_start) on_start();
    return CommHandle(std::make_unique<Pending>(t, waited, progressed));
  }
  void broadcast(Tensor&, int) override {}
  void barrier() override {}

 private:
  struct Pending final : CommHandle::Impl {
    Pending(Tensor t, std::vector<std::int64_t>& log, std::vector<std::int64_t>& progress_log)
        : t_(std::move(t)), log_(log), progress_log_(progress_log) {}
    void wait() override {
      triple(t_);
      log_.push_back(t_.numel());
    }
    void progress() override { progress_log_.push_back(t_.numel()); }
    Tensor t_;
    std::vector<std::int64_t>& log_;
    std::vector<std::int64_t>& progress_log_;
  };
};

// A two-layer network's parameters (float32, from a seed), plus two the loss does not use: a float64 one
// with a gradient from elsewhere and a float32 one without any.
std::vector<Tensor> make_params(std::uint64_t seed) {
  Generator gen(seed);
  auto uniform = [&](const Shape& s, DType dt) {
    std::vector<double> v(static_cast<std::size_t>(numel(s)));
    for (double& e : v) e = 2 * gen.uniform() - 1;
    return Tensor::from_vector(v, s, dt).set_requires_grad();
  };
  std::vector<Tensor> p{uniform({5, 3}, DType::Float32), uniform({5}, DType::Float32), uniform({2, 5}, DType::Float32),
                        uniform({2}, DType::Float32),    uniform({4}, DType::Float64), uniform({3}, DType::Float32)};
  p[4].set_grad(uniform({4}, DType::Float64).detach());
  return p;
}

Tensor loss_of(const std::vector<Tensor>& p) {
  const Tensor x = Tensor::from_vector(
      std::vector<double>{0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0, 1.1, -1.2}, {4, 3}, DType::Float32);
  const Tensor y = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, 1, 1, 0, 0}, {4, 2}, DType::Float32);
  return mse_loss(linear(tanh(linear(x, p[0], p[1])), p[2], p[3]), y);
}

TEST(GradReducerOverlap, GivesReducesBitsStartingTheLastLayersBucketDuringTheBackward) {
  const std::vector<Tensor> a = make_params(7), b = make_params(7);
  RecordingComm comm_a, comm_b;
  GradReducer plain(comm_a, 48), overlapped(comm_b, 48);  // 48 bytes: a few buckets
  std::vector<bool> first_layer_done_at_start;
  comm_b.on_start = [&] { first_layer_done_at_start.push_back(b[0].grad().defined()); };
  const double scale = 1.0 / 3;           // not a power of two: the scale rounds
  for (int step = 0; step < 2; ++step) {  // the second step reuses the plans and adds into existing gradients
    backward(loss_of(a));
    plain.reduce(a, scale);

    overlapped.begin(b, scale);
    const Tensor roots[] = {loss_of(b)};
    backward(roots, {}, overlapped.hook());
    EXPECT_GT(overlapped.num_started(), 0u) << "the last layers' buckets start inside the backward";
    overlapped.finish();
    EXPECT_EQ(overlapped.num_started(), overlapped.num_buckets());

    for (std::size_t k = 0; k < a.size(); ++k) {
      ASSERT_TRUE(b[k].grad().defined()) << k;
      EXPECT_EQ(a[k].grad().to_vector(), b[k].grad().to_vector()) << "parameter " << k << ", step " << step;
    }
  }
  EXPECT_EQ(a[5].grad().to_vector(), std::vector<double>(3, 0.0)) << "no gradient: a zero one, reduced";
  // Buckets in reverse parameter order: the unused float32 one (3), the float64 one (4) alone, W2's bias and
  // W2 together (2 + 10: 48 bytes), b1 (5), W1 (15).
  const std::vector<std::int64_t> expected{3, 4, 12, 5, 15};
  EXPECT_EQ(std::vector<std::int64_t>(comm_b.started.begin(), comm_b.started.begin() + 5), expected);
  EXPECT_EQ(comm_b.waited, comm_b.started) << "waited for in start order";
  ASSERT_FALSE(first_layer_done_at_start.empty());
  EXPECT_FALSE(first_layer_done_at_start[0]) << "the first bucket started before W1's gradient existed";
}

TEST(GradReducerOverlap, StartsBucketsInBucketOrderWhateverOrderTheyBecomeReady) {
  RecordingComm comm;
  GradReducer reducer(comm, 1);  // one parameter per bucket
  std::vector<Tensor> p;
  for (std::int64_t n : {1, 2, 3, 4}) {
    Tensor t = Tensor::full({n}, static_cast<double>(n), DType::Float64).set_requires_grad();
    t.set_grad(Tensor::full({n}, static_cast<double>(n), DType::Float64));
    p.push_back(t);
  }
  reducer.begin(p, 0.5);
  ASSERT_EQ(reducer.num_buckets(), 4u);  // bucket 0 holds p[3], bucket 3 p[0]
  reducer.mark_ready(0);
  EXPECT_EQ(reducer.num_started(), 0u) << "bucket 3 is complete but buckets 0-2 have not started";
  reducer.mark_ready(2);
  EXPECT_EQ(reducer.num_started(), 0u);
  EXPECT_TRUE(comm.progressed.empty()) << "nothing in flight to progress yet";
  reducer.mark_ready(3);
  EXPECT_EQ(reducer.num_started(), 2u) << "bucket 0, then the waiting bucket 1";
  // Every bucket in flight is given a chance to progress after each gradient (MPI moves only inside calls).
  EXPECT_EQ(comm.progressed, (std::vector<std::int64_t>{4, 3}));
  reducer.mark_ready(1);
  EXPECT_EQ(reducer.num_started(), 4u);
  EXPECT_EQ(comm.progressed, (std::vector<std::int64_t>{4, 3, 4, 3, 2, 1}));
  EXPECT_EQ(comm.started, (std::vector<std::int64_t>{4, 3, 2, 1}));
  EXPECT_TRUE(comm.waited.empty()) << "nothing waited before finish";
  reducer.finish();
  EXPECT_EQ(comm.waited, (std::vector<std::int64_t>{4, 3, 2, 1}));
  EXPECT_EQ(comm.progressed.size(), 6u) << "no progress call after the waits";
  for (const Tensor& t : p) {
    const double n = static_cast<double>(t.numel());
    EXPECT_EQ(t.grad().to_vector(), std::vector<double>(t.numel(), 1.5 * n));  // 3 ranks x 0.5 x n
  }
}

TEST(GradReducerOverlap, FinishStartsWhatTheBackwardNeverMarked) {
  RecordingComm comm;
  GradReducer reducer(comm, 1 << 20);
  Tensor p = Tensor::zeros({3}, DType::Float32).set_requires_grad();
  const std::vector<Tensor> params{p};
  reducer.begin(params, 1.0);
  EXPECT_EQ(reducer.num_started(), 0u);
  reducer.finish();
  EXPECT_EQ(comm.started, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(p.grad().to_vector(), std::vector<double>(3, 0.0));
}

TEST(GradReducerOverlap, RefusesMisuse) {
  RecordingComm comm;
  GradReducer reducer(comm, 1 << 20);
  Tensor p = Tensor::zeros({3}, DType::Float32).set_requires_grad();
  const std::vector<Tensor> params{p};
  EXPECT_NE(error_of([&] { reducer.mark_ready(0); }).find("outside begin() ... finish()"), std::string::npos);
  EXPECT_NE(error_of([&] { reducer.hook(); }).find("outside begin() ... finish()"), std::string::npos);
  EXPECT_NE(error_of([&] { reducer.finish(); }).find("without begin()"), std::string::npos);
  reducer.begin(params, 1.0);
  EXPECT_NE(error_of([&] { reducer.mark_ready(1); }).find("mark_ready(1) for a list of 1 parameters"),
            std::string::npos);
  reducer.mark_ready(0);
  EXPECT_NE(error_of([&] { reducer.mark_ready(0); }).find("marked ready twice"), std::string::npos);
  EXPECT_NE(error_of([&] { reducer.reduce(params, 1.0); }).find("overlapped reduction is in progress"),
            std::string::npos);
  reducer.finish();
  reducer.reduce(params, 1.0);  // usable again
}

}  // namespace
}  // namespace gn::nn
