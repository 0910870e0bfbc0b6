#pragma once
// Module: a named tree of parameters. A layer registers its parameters (leaf tensors that require grad),
// its buffers (state that is saved but not trained, e.g. running statistics) and its sub-modules once, in
// its constructor; named_parameters() walks the tree so that optimizers, checkpoints and the multitask code
// can find every parameter by a stable, readable name.
//
// Modules are held by std::shared_ptr (a parent shares its children). Parameters are plain gn::Tensor
// handles: the module, the optimizer and the caller all alias the same storage, so an optimizer that
// updates a parameter in place updates the module.
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict.h"

namespace gn::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Copying would make two modules alias one set of parameters without saying so: share the pointer instead.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Every parameter of this module and its descendants, depth first: a module's own parameters in
  // registration order, then each child's (in registration order), prefixed by the child's name:
  // "weight", "0.bias", "trunk.2.weight". A parameter reachable twice (a shared sub-module, tied weights)
  // is listed once, under its first name, so an optimizer never updates it twice per step.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;  // same order as named_parameters()
  // Every buffer, walked and named like named_parameters(); live handles, as there.
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // The direct children, in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }

  // Fills every existing .grad() with 0 and keeps the buffer, so backward accumulates into the same memory
  // every step (no allocation in steady state). Parameters whose grad is undefined are left undefined.
  void zero_grad();
  std::int64_t num_parameters() const;  // total elements over all parameters

  // Training mode (the default) or evaluation mode, for layers whose forward differs (dropout, batch norm):
  // train()/eval() set this module and all its descendants; forward() reads is_training().
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Parameters and buffers by dotted name: each module's parameters, then its buffers, then its children's
  // entries, each tensor once (as in named_parameters()). The values are detached clones on the module's
  // device, so a checkpoint taken now is not changed by later training steps.
  StateDict state_dict() const;
  // Copies `state` into the parameters and buffers in place, from any device, so optimizers and other
  // aliases keep seeing them. Entries are matched by name; every entry is checked (shape, dtype and, when
  // strict, missing or unexpected names) before anything is copied, and one gn::Error names every bad
  // entry, leaving the module unchanged. Not strict: missing entries keep their values, unexpected ones are
  // ignored, and the report lists both.
  LoadReport load_state_dict(const StateDict& state, bool strict = true);

 protected:
  // Registers `t` (a defined floating-point leaf) under `name` and sets requires_grad; returns the handle.
  // Names are non-empty, contain no '.', and are unique among this module's parameters and children.
  Tensor register_parameter(std::string name, Tensor t);
  // Registers `t` (defined, any dtype, not requiring grad) as a buffer under `name`; returns the handle.
  // Same naming rules as parameters.
  Tensor register_buffer(std::string name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> m) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: M must derive from gn::nn::Module");
    add_child(std::move(name), m);
    return m;
  }

 private:
  void add_child(std::string name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name, const char* what) const;
  enum class Walk { kParameters, kBuffers, kBoth };
  StateDict walk(Walk what) const;
  void collect(Walk what, const std::string& prefix, std::unordered_set<const TensorImpl*>& seen, StateDict& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace gn::nn
