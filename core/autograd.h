#pragma once
// Define-by-run reverse-mode autograd.
//
// Every op whose inputs require grad records a Node on its output: the op's name, its inputs and a
// backward closure mapping the output's gradient to one gradient per input. The graph lives as long as
// the tensors that hold it (no retain_graph flag: backward can run twice over the same graph). Backward
// runs with grad mode off, so there are no second-order graphs.
//
//   backward(loss)               accumulates d loss / d leaf into every leaf's .grad()
//   grad({outs}, {inputs})       returns d outs / d inputs and stops at the inputs (cut points): nothing
//                                below them is visited and no leaf .grad() is touched
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace gn {

// grad_output -> one gradient per input (an undefined Tensor where an input needs none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string_view name;       // the op, for error messages and debugging
  std::vector<Tensor> inputs;  // what the output was computed from
  BackwardFn backward;
};

// Grad mode: ops record history only while it is on (the default), per thread.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches history to `out` when grad mode is on and any input requires grad; returns `out`.
// The closure must not capture `out` itself (that would be a reference cycle): capture out.detach().
Tensor record(Tensor out, std::string_view op, std::vector<Tensor> inputs, BackwardFn backward);

// Backpropagates from `root`. A non-scalar root needs `seed` (same shape): the vector in the
// vector-Jacobian product. Gradients accumulate (+=) into leaves' .grad().
void backward(const Tensor& root, const Tensor& seed = {});
void backward(std::span<const Tensor> roots, std::span<const Tensor> seeds);

// backward() that stops at `cuts`: accumulates into the leaves between the roots and the cuts (for the
// GradNorm step: a head's parameters) and returns the gradient that reaches each cut (the head's
// contribution at the shared representation). Nothing below the cuts is visited.
std::vector<Tensor> backward_to(std::span<const Tensor> roots, std::span<const Tensor> seeds,
                                std::span<const Tensor> cuts);

// Gradients of sum_k <seeds[k], outputs[k]> with respect to each input, stopping at the inputs.
// Inputs may be leaves or intermediate tensors; each must require grad. An input the outputs do not
// depend on gets zeros.
std::vector<Tensor> grad(std::span<const Tensor> outputs, std::span<const Tensor> inputs,
                         std::span<const Tensor> seeds = {});

}  // namespace gn
