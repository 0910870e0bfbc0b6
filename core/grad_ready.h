#pragma once
// The autograd engine's "gradient ready" hook: backward() tells the caller, leaf by leaf, the moment a leaf's
// gradient is final in this backward call, so that work on it (data parallel: its bucket's all-reduce,
// nn/grad_reducer.h) can start while the rest of the backward is still running.
//
// When is a leaf's gradient final? The engine (core/autograd.cpp) counts, before any op's backward runs, every
// consumer of every tensor reachable from the roots, and sums all contributions to a tensor before passing the
// sum on (Kahn's algorithm). So a reached leaf receives exactly ONE accumulation into .grad() per backward
// call, at the moment its last consumer has run; nothing can arrive after that. The hook fires:
//   - for a leaf the backward reaches: right after that accumulation (the callback sees the final .grad());
//     when every path to it gave no gradient, at the moment its last consumer ran (.grad() unchanged);
//   - for a leaf the backward does not reach (not in the graph, or not requiring grad): right after the graph
//     has been traversed, before any op's backward runs, in list order: no contribution can arrive, so its
//     .grad() (possibly undefined) is already final.
// Hence every listed leaf fires EXACTLY ONCE per backward() call, whatever the graph: collectives started from
// the hook stay in lockstep across ranks even where a rank's graph leaves a parameter out. Gradients accumulate
// across backward() calls (the graph can be run again): each call fires every leaf again, after that call's
// accumulation. The order in which reached leaves fire follows the engine's traversal: deterministic for a
// given graph, but not a documented order (nn::GradReducer imposes its own start order).
//
// Cost: without a hook the engine does nothing extra; with one, a hash lookup per reached leaf and one per
// listed leaf. An exception thrown by on_ready propagates out of backward() (the leaves after it do not fire).
#include <cstddef>
#include <functional>
#include <span>

#include "core/tensor.h"

namespace gn {

struct GradReadyHook {
  std::span<const Tensor> leaves;             // distinct leaf tensors (no grad_fn), kept alive by the caller
  std::function<void(std::size_t)> on_ready;  // called with k when leaves[k].grad() is final
};

// backward() (core/autograd.h) that fires `hook` as the listed leaves' gradients become final.
void backward(std::span<const Tensor> roots, std::span<const Tensor> seeds, const GradReadyHook& hook);

}  // namespace gn
