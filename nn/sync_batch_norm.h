#pragma once
// Synchronised batch norm for data parallelism (docs/data-parallel.md, "Batch norm across ranks").
//
// With N ranks each holding a slice of the global batch, plain batch norm normalises every slice with its
// own statistics: the N-rank network is then not the one-process network (and each rank's running
// statistics differ). sync_batch_norm normalises with the statistics of the GLOBAL batch:
//   forward   one all-reduce of (count, per-channel sum, per-channel sum of squares), in float64; mean
//             and biased variance of the global batch; running statistics updated with them (unbiased
//             variance, as batch_norm) identically on every rank
//   backward  one all-reduce of the two per-channel gradient sums, sum dy and sum dy * xhat, so that
//             dx = w invstd (dy - mean dy - xhat mean(dy xhat)) uses the global means
// The gradient convention is the data-parallel step's (multitask/step.h): each rank's upstream gradient
// dy_r is that of its local objective J_r, the global one being J = sum_r s_r J_r with
// s_r = (rank r's values per channel) / (the global count) = B_r / B. So the sums are reduced as
// sum_r s_r (...)_r and divided by this rank's s_r: the dx returned is (1 / s_r) dJ / dx_r, which the
// step's gradient reduction (scaled by s_r) turns into the exact global gradient below this layer. The
// weight and bias gradients returned are this rank's own sums, reduced later with every other parameter.
// With equal slices this is PyTorch's SyncBatchNorm arithmetic (s_r = 1/N cancels).
//
// Numerics: the variance is E[x^2] - mean^2 in float64 (one all-reduce instead of two); its rounding
// error, about 1e-16 (mean^2 + var) relative to var, is far below float32's. CPU tensors (the MPI
// communicator's), float32 or float64, x (N, C, H, W) or any (N, C, ...).
#include <cstdint>

#include "core/communicator.h"
#include "core/tensor.h"
#include "nn/module.h"

namespace gn::nn {

// Training-mode batch norm over dim 1 with the statistics of every rank's batch together. running_mean
// and running_var (C) may be undefined (then not updated); weight, bias (C) or undefined (1 and 0).
// Collective: every rank calls it, in the same order, with the same C (and calls the backward together).
Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps, Communicator& comm);

// Sets comm (null: off) on every BatchNorm2d in the module tree; returns how many there are.
int sync_batch_norms(Module& root, Communicator* comm);

}  // namespace gn::nn
