#pragma once
// The last shared layer W of a multitask network, as the GradNorm step needs it. Besides forward, it
// gives two gradients directly, without the autograd tape:
//   - all T per-task gradients of its parameters in ONE call, from the T output gradients stacked along
//     dim 1 (Linear: one GEMM; a convolution: one backward-filter over T*C_out channels);
//   - the gradient at its input for one output gradient (the trunk backward then starts below W).
// Any layer that can do both can be W: the step knows nothing else about it.
#include <span>

#include "nn/module.h"

namespace gn::nn {

class SharedLayer : public Module {
 public:
  // h: the layer's input (B, ...); deltas: (B, T*C, ...), task t's dL_t/dz in [t*C, (t+1)*C) of dim 1,
  // where z = forward(h) is (B, C, ...). grads[k] (T, *parameters()[k].shape): task t's gradient of
  // parameter k in slice t, for every parameter in parameters() order. Overwrites grads.
  virtual void stacked_parameter_grads(const Tensor& h, const Tensor& deltas, int num_tasks,
                                       std::span<Tensor> grads) = 0;
  // delta: dL/dz, shaped like z -> grad_h: dL/dh, shaped like h. Overwrites grad_h.
  virtual void input_grad(const Tensor& delta, Tensor& grad_h) = 0;
};

}  // namespace gn::nn
