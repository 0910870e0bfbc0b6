#pragma once
// CUDA optimizer updates, same math and contracts as kernels/cpu/optim.h, in one launch per tensor.
#include <cstdint>

#include "kernels/cuda/stream.h"

namespace gn::cuda {

template <class T>
void sgd_step(std::int64_t n, T* param, const T* grad, T* momentum_buf, T lr, T momentum, T weight_decay, bool first,
              Stream s);

template <class T>
void adam_step(std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps, T weight_decay,
               std::int64_t step, Stream s);

}  // namespace gn::cuda
