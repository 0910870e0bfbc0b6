#pragma once
// Data-parallel gradient averaging: after each rank's backward over its slice of the global batch, every
// listed parameter's .grad becomes the gradient of the GLOBAL loss (the mean over the global batch):
//   g <- sum_r scale_r g_r,   scale_r = B_r / B   (rank r's rows over the global batch)
// because the global mean loss is L = sum_r (B_r / B) L_r when L_r is the mean over rank r's B_r rows.
// With equal slices scale_r = 1/N: the plain average. The caller passes its own scale_r.
//
// Buckets: the gradients are packed in a fixed order into flat buckets of at most bucket_bytes (one dtype per
// bucket; a parameter larger than a bucket gets one of its own); each bucket is scaled and summed over the
// ranks by one non-blocking all-reduce (Communicator::start_all_reduce_sum); all are waited for in order,
// then unpacked. Every rank must list the same parameters in the same order (the communicator checks each
// bucket's shape and dtype). Two ways to run it:
//
// reduce(params, scale), after the backward: buckets in list order, each started as soon as it is packed
//   (packing bucket k+1 overlaps bucket k's exchange). Blocking.
//
// Overlapped with the backward (begin, then the backward with hook(), then finish):
//   begin(params, scale)   buckets in REVERSE list order: a backward produces the last layers' gradients
//                          first, so bucket 0 (the last parameters) is complete earliest (as PyTorch DDP)
//   backward(roots, seeds, reducer.hook())   (core/grad_ready.h) calls mark_ready(k) when params[k].grad
//                          is final: it is packed at once, and a complete bucket's all-reduce is started
//   finish()               marks the parameters not marked yet, starts what is left, waits in order, unpacks
// Determinism: buckets are STARTED in bucket order 0, 1, 2, ... on every rank, whatever order their gradients
// become ready in (a bucket complete before its predecessor waits for the predecessor to start), so every rank
// makes the same collectives in the same order, and each element is summed in rank order by the communicator
// whatever bucket it sits in: the result is bit for bit the one reduce() gives (tests/nn/grad_reducer_*).
// The overlap is what the communicator gives: MPI posts the first exchange at start and finishes in wait
// (OpenMPI progresses it only inside MPI calls, so on the CPU the overlap is partial); NCCL runs it on its own
// stream, fenced by events after the pack and before the unpack, so it runs alongside the rest of the
// backward's kernels (core/communicator_nccl.cpp; docs/data-parallel.md, "Buckets").
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/communicator.h"
#include "core/grad_ready.h"
#include "core/tensor.h"

namespace gn::nn {

class GradReducer {
 public:
  // comm is borrowed. bucket_bytes >= 1.
  GradReducer(Communicator& comm, std::size_t bucket_bytes);

  // For every p in params: p.grad <- sum over ranks of scale * p.grad (a parameter without a gradient
  // buffer gets a zero one first, so that every rank makes the same collectives). Blocking.
  void reduce(std::span<const Tensor> params, double scale);

  // The overlapped reduction (above). The reducer keeps its own list of the parameters until finish().
  void begin(std::span<const Tensor> params, double scale);
  // params[k].grad is final (no gradient: a zero one): pack it; start every complete bucket whose predecessors
  // have started. Each parameter once between begin() and finish(): its gradient may already be in flight.
  void mark_ready(std::size_t k);
  // For gn::backward: calls mark_ready. Valid until finish().
  GradReadyHook hook();
  // Marks every parameter not marked yet as it is now, starts the remaining buckets in order, waits for all
  // in order and unpacks: every p.grad then holds the sum.
  void finish();

  // Buckets of the last reduce or begin (for tests and the docs' cost table), and how many of them have
  // started in the current overlapped reduction.
  std::size_t num_buckets() const { return buckets_.size(); }
  std::size_t num_started() const { return next_start_; }

 private:
  struct Bucket {
    Tensor flat;                      // (n) one dtype, on the parameters' device
    std::vector<std::size_t> params;  // indices into the parameter list
    std::vector<std::int64_t> offsets;
    std::size_t unpacked = 0;  // overlapped: parameters not packed yet
  };
  void plan(std::span<const Tensor> params, bool reverse);
  void pack(std::size_t bucket, std::size_t j, const Tensor& grad);
  void start(std::size_t bucket);
  void unpack(std::size_t bucket, std::span<const Tensor> params);

  Communicator& comm_;
  std::size_t bucket_bytes_;
  std::vector<const void*> planned_for_;  // the parameters (their data pointers) the buckets were made for
  bool planned_reverse_ = false;
  std::vector<Bucket> buckets_;
  double scale_ = 1;
  // The overlapped reduction in progress:
  std::vector<Tensor> params_;
  std::vector<std::pair<std::size_t, std::size_t>> slot_;  // parameter k -> (bucket, position in it)
  std::vector<bool> marked_;
  std::vector<CommHandle> handles_;  // one per bucket started, in bucket order
  std::size_t next_start_ = 0;       // the next bucket to start: buckets start strictly in order
  bool active_ = false;
};

}  // namespace gn::nn
