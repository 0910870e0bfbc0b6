#pragma once
// BatchNorm2d: PyTorch's torch.nn.BatchNorm2d (gn::batch_norm over the channels of (N, C, H, W)).
// Training mode (is_training(), the default) normalises with the batch's statistics and updates the running
// ones (momentum, unbiased variance); eval mode normalises with the running statistics.
// Data parallel: set_sync(comm) with N > 1 ranks makes training mode use the statistics of the global batch
// (nn/sync_batch_norm.h); without it (the default) each process normalises with its own batch.
#include <cstdint>

#include "core/communicator.h"
#include "nn/module.h"

namespace gn::nn {

class BatchNorm2d : public Module {
 public:
  // weight = 1 and bias = 0 (parameters when affine), running_mean = 0 and running_var = 1 (buffers, same
  // dtype and device), num_batches_tracked = 0 (an int64 scalar buffer, kept on the host: counting costs no
  // device work; load_state_dict copies into it from any device).
  explicit BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       DType dtype = DType::Float32, Device device = cpu_device());

  // x: (N, C, H, W) -> same shape. In training mode also updates the running statistics in place and adds 1
  // to num_batches_tracked.
  Tensor forward(const Tensor& x) override;

  std::int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  // The ranks whose batches training mode normalises together (borrowed; null: this process alone).
  void set_sync(Communicator* comm) { sync_ = comm; }
  Communicator* sync() const { return sync_; }

  Tensor weight;  // (C), or undefined when affine = false
  Tensor bias;    // (C), or undefined when affine = false
  Tensor running_mean;
  Tensor running_var;
  Tensor num_batches_tracked;

 private:
  std::int64_t num_features_;
  double eps_;
  double momentum_;
  Communicator* sync_ = nullptr;
};

}  // namespace gn::nn
