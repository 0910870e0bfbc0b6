#pragma once
// Data-parallel gradient averaging: after each rank's backward over its slice of the global batch, every
// listed parameter's .grad becomes the gradient of the GLOBAL loss (the mean over the global batch):
//   g <- sum_r scale_r g_r,   scale_r = B_r / B   (rank r's rows over the global batch)
// because the global mean loss is L = sum_r (B_r / B) L_r when L_r is the mean over rank r's B_r rows.
// With equal slices scale_r = 1/N: the plain average. The caller passes its own scale_r.
//
// Buckets: the gradients are packed in a fixed order (the order of the list) into flat buckets of at most
// bucket_bytes (one dtype per bucket; a parameter larger than a bucket gets one of its own), and each
// bucket's non-blocking all-reduce (Communicator::start_all_reduce_sum) is started as soon as it is packed,
// so packing bucket k+1 overlaps bucket k's exchange; all are waited for in order, then unpacked. The
// reduction runs after the backward has finished (overlap with the backward itself would need gradient-ready
// hooks in the autograd engine: docs/data-parallel.md, "Next"). Every rank must list the same parameters in
// the same order (the communicator checks each bucket's shape and dtype).
#include <cstddef>
#include <span>
#include <vector>

#include "core/communicator.h"
#include "core/tensor.h"

namespace gn::nn {

class GradReducer {
 public:
  // comm is borrowed. bucket_bytes >= 1.
  GradReducer(Communicator& comm, std::size_t bucket_bytes);

  // For every p in params: p.grad <- sum over ranks of scale * p.grad (a parameter without a gradient
  // buffer gets a zero one first, so that every rank makes the same collectives). Blocking.
  void reduce(std::span<const Tensor> params, double scale);
  // Buckets of the last reduce (for tests and the docs' cost table).
  std::size_t num_buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    Tensor flat;                      // (n) one dtype, on the parameters' device
    std::vector<std::size_t> params;  // indices into the parameter list
    std::vector<std::int64_t> offsets;
  };
  void plan(std::span<const Tensor> params);

  Communicator& comm_;
  std::size_t bucket_bytes_;
  std::vector<const void*> planned_for_;  // the parameters (their data pointers) the buckets were made for
  std::vector<Bucket> buckets_;
};

}  // namespace gn::nn
