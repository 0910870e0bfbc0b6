#pragma once
// Optimizer update rules over raw buffers: one parameter tensor of n contiguous elements per call.
// Every kernel updates `param` and its state buffers in place (read-modify-write, no extra output);
// `grad` is read only. The scalar arithmetic is done in T; bias corrections are computed in double.
// Elementwise, so the result does not depend on the thread count.
#include <cstdint>

namespace gn::cpu {

// SGD with PyTorch's conventions (torch.optim.SGD, dampening 0, no Nesterov):
//   d = grad + weight_decay * param                  (L2 penalty folded into the gradient)
//   buf = first ? d : momentum * buf + d             (only when momentum_buf != nullptr)
//   param -= lr * (momentum_buf ? buf : d)
// param: (n) updated in place; grad: (n); momentum_buf: (n) overwritten, or nullptr for plain SGD (then
// `momentum` and `first` are ignored). `first` is true on the first step this parameter had a gradient:
// the buffer then starts as d rather than decaying the zeros it was allocated with.
template <class T>
void sgd_step(std::int64_t n, T* param, const T* grad, T* momentum_buf, T lr, T momentum, T weight_decay, bool first);

// Adam (Kingma & Ba 2015) with PyTorch's conventions (torch.optim.Adam, not AdamW: weight decay is an L2
// term added to the gradient):
//   g = grad + weight_decay * param
//   m = beta1 * m + (1 - beta1) * g                  (first moment)
//   v = beta2 * v + (1 - beta2) * g^2                (second moment)
//   param -= lr * mhat / (sqrt(vhat) + eps),  mhat = m / (1 - beta1^step), vhat = v / (1 - beta2^step)
// evaluated, as PyTorch does, as param -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
// param: (n) updated in place; grad: (n); m, v: (n) state, updated in place (zeros before step 1).
// step: 1-based count of the updates this parameter has received, including this one.
template <class T>
void adam_step(std::int64_t n, T* param, const T* grad, T* m, T* v, T lr, T beta1, T beta2, T eps, T weight_decay,
               std::int64_t step);

}  // namespace gn::cpu
