#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/grad_ready.h"
#include "core/ops.h"

namespace gn {
namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

Tensor record(Tensor out, std::string_view op, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!t_grad_enabled) return out;
  bool any = false;
  for (const auto& t : inputs) any = any || t.requires_grad();
  if (!any) return out;
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::make_shared<Node>(Node{op, std::move(inputs), std::move(backward)});
  return out;
}

namespace {

// The engine shared by backward() and grad(): Kahn's algorithm over the tensors reachable from the roots,
// so each tensor's gradient is complete (all consumers summed) before its node's backward runs.
// With a gradient-ready hook (core/grad_ready.h; only backward() passes one, without cuts), every listed leaf
// fires once: the unreached ones as soon as the graph has been traversed, the others right after their one
// accumulation.
std::unordered_map<TensorImpl*, Tensor> run_engine(std::span<const Tensor> roots, std::span<const Tensor> seeds,
                                                   const std::unordered_set<TensorImpl*>& stops,
                                                   bool accumulate_into_leaves, const GradReadyHook* hook = nullptr) {
  NoGradGuard no_grad;
  std::unordered_map<TensorImpl*, std::size_t> hooked;  // listed leaf -> its index; empty without a hook
  if (hook != nullptr) {
    for (std::size_t k = 0; k < hook->leaves.size(); ++k) {
      const Tensor& leaf = hook->leaves[k];
      check_defined(leaf, "backward", "gradient-ready leaf");
      GN_CHECK(leaf.is_leaf(), "backward: gradient-ready hook: tensor {} of shape {} is not a leaf (it has a grad_fn)",
               k, to_string(leaf.shape()));
      GN_CHECK(hooked.emplace(leaf.impl(), k).second, "backward: gradient-ready hook: tensor {} is listed twice", k);
    }
  }
  std::unordered_map<TensorImpl*, Tensor> by_impl;  // keeps each reachable tensor alive and addressable
  std::unordered_map<TensorImpl*, int> pending;     // consumers not yet processed
  std::vector<TensorImpl*> stack;
  for (const auto& r : roots) {
    if (by_impl.emplace(r.impl(), r).second) stack.push_back(r.impl());
  }
  while (!stack.empty()) {
    TensorImpl* t = stack.back();
    stack.pop_back();
    if (stops.contains(t) || !t->grad_fn) continue;
    for (const auto& in : t->grad_fn->inputs) {
      if (!in.requires_grad()) continue;
      ++pending[in.impl()];
      if (by_impl.emplace(in.impl(), in).second) stack.push_back(in.impl());
    }
  }
  // The whole graph is known: a listed leaf outside it can receive nothing in this call, so it is final now.
  std::size_t fired = 0;
  if (hook != nullptr) {
    for (std::size_t k = 0; k < hook->leaves.size(); ++k)
      if (!by_impl.contains(hook->leaves[k].impl())) {
        ++fired;
        hook->on_ready(k);
      }
  }

  std::unordered_map<TensorImpl*, Tensor> grads;
  auto accumulate = [&](TensorImpl* t, const Tensor& g) {
    auto [it, inserted] = grads.emplace(t, g);
    if (!inserted) it->second = add(it->second, g);  // out of place: g may alias another buffer
  };
  for (std::size_t k = 0; k < roots.size(); ++k) accumulate(roots[k].impl(), seeds[k]);

  std::vector<TensorImpl*> ready;
  for (const auto& r : roots)
    if (!pending.contains(r.impl())) ready.push_back(r.impl());
  std::unordered_map<TensorImpl*, Tensor> captured;
  std::unordered_set<TensorImpl*> done;
  while (!ready.empty()) {
    TensorImpl* t = ready.back();
    ready.pop_back();
    if (!done.insert(t).second) continue;
    // A tensor can become ready without a gradient when every path to it returned none; it must still
    // release its inputs so that their other consumers' gradients get processed.
    Tensor g;
    if (auto git = grads.find(t); git != grads.end()) {
      g = std::move(git->second);
      grads.erase(git);
    }
    if (stops.contains(t)) {
      if (g.defined()) captured.emplace(t, std::move(g));
      continue;
    }
    if (!t->grad_fn) {
      if (g.defined() && accumulate_into_leaves) {
        if (!t->grad.defined())
          t->grad = g.clone();  // own buffer: g may alias an upstream gradient
        else
          add_(t->grad, g);
      }
      // Every consumer has run (pending reached 0) and this was the leaf's one accumulation: final.
      if (!hooked.empty())
        if (auto it = hooked.find(t); it != hooked.end()) {
          ++fired;
          hook->on_ready(it->second);
        }
      continue;
    }
    Node& node = *t->grad_fn;
    std::vector<Tensor> in_grads = g.defined() ? node.backward(g) : std::vector<Tensor>(node.inputs.size());
    GN_CHECK(in_grads.size() == node.inputs.size(), "internal: backward of {} returned {} gradients for {} inputs",
             node.name, in_grads.size(), node.inputs.size());
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor& in = node.inputs[i];
      if (!in.requires_grad()) continue;
      if (in_grads[i].defined()) {
        GN_CHECK(in_grads[i].shape() == in.shape(),
                 "internal: backward of {} gave a gradient of shape {} for input {} of shape {}", node.name,
                 to_string(in_grads[i].shape()), i, to_string(in.shape()));
        accumulate(in.impl(), in_grads[i]);
      }
      if (--pending[in.impl()] == 0) ready.push_back(in.impl());
    }
  }
  GN_CHECK(hook == nullptr || fired == hook->leaves.size(),
           "internal: backward fired the gradient-ready hook for {} of {} leaves", fired, hook->leaves.size());
  return captured;
}

std::vector<Tensor> checked_seeds(std::span<const Tensor> roots, std::span<const Tensor> seeds, const char* api) {
  GN_CHECK(seeds.empty() || seeds.size() == roots.size(), "{}: {} seeds for {} outputs", api, seeds.size(),
           roots.size());
  std::vector<Tensor> out;
  for (std::size_t k = 0; k < roots.size(); ++k) {
    const Tensor& r = roots[k];
    check_defined(r, api, "output");
    GN_CHECK(r.requires_grad(),
             "{}: output {} of shape {} does not require grad (no op on its path requires grad, "
             "or it was computed under no_grad)",
             api, k, to_string(r.shape()));
    if (!seeds.empty() && seeds[k].defined()) {
      GN_CHECK(seeds[k].shape() == r.shape(), "{}: seed of shape {} for output of shape {}", api,
               to_string(seeds[k].shape()), to_string(r.shape()));
      check_same_dtype_device(seeds[k], r, api);
      out.push_back(seeds[k]);
    } else {
      GN_CHECK(r.numel() == 1, "{}: output {} has shape {}; a non-scalar output needs a seed gradient", api, k,
               to_string(r.shape()));
      out.push_back(Tensor::ones(r.shape(), r.dtype(), r.device()));
    }
  }
  return out;
}

}  // namespace

void backward(const Tensor& root, const Tensor& seed) {
  const Tensor roots[] = {root};
  const Tensor seeds[] = {seed};
  backward(roots, seeds);
}

void backward(std::span<const Tensor> roots, std::span<const Tensor> seeds) {
  const auto s = checked_seeds(roots, seeds, "backward");
  run_engine(roots, s, {}, /*accumulate_into_leaves=*/true);
}

void backward(std::span<const Tensor> roots, std::span<const Tensor> seeds, const GradReadyHook& hook) {
  GN_CHECK(static_cast<bool>(hook.on_ready), "backward: the gradient-ready hook has no callback");
  const auto s = checked_seeds(roots, seeds, "backward");
  run_engine(roots, s, {}, /*accumulate_into_leaves=*/true, &hook);
}

namespace {
std::vector<Tensor> run_to_cuts(std::span<const Tensor> outputs, std::span<const Tensor> inputs,
                                std::span<const Tensor> seeds, bool accumulate, const char* api) {
  const auto s = checked_seeds(outputs, seeds, api);
  std::unordered_set<TensorImpl*> stops;
  for (const auto& in : inputs) {
    check_defined(in, api, "input");
    GN_CHECK(in.requires_grad(), "{}: input of shape {} does not require grad", api, to_string(in.shape()));
    stops.insert(in.impl());
  }
  auto captured = run_engine(outputs, s, stops, accumulate);
  std::vector<Tensor> out;
  for (const auto& in : inputs) {
    auto it = captured.find(in.impl());
    out.push_back(it != captured.end() ? it->second : Tensor::zeros(in.shape(), in.dtype(), in.device()));
  }
  return out;
}
}  // namespace

std::vector<Tensor> grad(std::span<const Tensor> outputs, std::span<const Tensor> inputs,
                         std::span<const Tensor> seeds) {
  return run_to_cuts(outputs, inputs, seeds, /*accumulate=*/false, "grad");
}

std::vector<Tensor> backward_to(std::span<const Tensor> roots, std::span<const Tensor> seeds,
                                std::span<const Tensor> cuts) {
  return run_to_cuts(roots, cuts, seeds, /*accumulate=*/true, "backward_to");
}

}  // namespace gn
