#pragma once
// Optimizer: updates a fixed list of parameters in place from their .grad(). Subclasses allocate all their
// state (momentum, moments) in the constructor, so step() allocates nothing; the arithmetic lives in
// kernels/cpu/optim.h.
//
//   loss = ...; opt.zero_grad(); backward(loss); opt.step();
#include <cstddef>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict.h"

namespace gn::nn {

class Optimizer {
 public:
  // params: defined float32/float64 tensors, each listed once (a duplicate would be updated twice per step).
  // lr > 0.
  explicit Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter whose grad is defined; parameters with an undefined grad (not reached by
  // the last backward) are skipped, their state untouched.
  virtual void step() = 0;
  // Fills every existing .grad() with 0, keeping the buffers (see Module::zero_grad).
  void zero_grad();

  double lr() const { return lr_; }
  // lr >= 0 (0 freezes the parameters, e.g. the first step of a warm-up); schedules call this.
  void set_lr(double lr);
  const std::vector<Tensor>& params() const { return params_; }

  // Everything a resumed run needs to continue bitwise as if uninterrupted: "lr" (0-d float64 on the CPU),
  // then the subclass's per-parameter entries "<i>.<what>" (i indexes params()). Tensor state is cloned on
  // the parameter's device; counts and flags are 0-d int64 on the CPU. Hyperparameters fixed at construction
  // (momentum, betas, ...) are not saved: build the optimizer with them as before.
  virtual StateDict state_dict() const;
  // Loads a state_dict() of the same kind of optimizer over parameters of the same shapes and dtypes,
  // matching by name. Names, count, shapes, dtypes and values are all checked first: on a gn::Error naming
  // the bad entries nothing has changed. Tensor state is copied in place (from any device).
  virtual void load_state_dict(const StateDict& state);

 protected:
  // `name` ("SGD", "Adam") prefixes every error message.
  Optimizer(const char* name, std::vector<Tensor> params, double lr);
  // True when params()[i] has a gradient to apply; throws, naming `kernel`, when it cannot be applied here
  // (CUDA parameters, grad of another dtype/shape/device).
  bool has_grad_to_apply(std::size_t i, const char* kernel) const;
  const char* name() const { return name_; }

  // Subclass state for state_dict() / load_state_dict(). append_state adds the entries: live tensors (loading
  // copies into them) and fresh state_scalar()/state_count() for plain numbers. load_numbers receives, in the
  // same order, the caller's tensors for those entries, already checked for name, shape and dtype, before
  // anything changes: it checks every value, then sets its numbers (throwing after setting any would leave a
  // half-loaded optimizer). The live tensors are copied after it returns.
  virtual void append_state(StateDict& out) const {}
  virtual void load_numbers(const std::vector<Tensor>& in) {}

 private:
  const char* name_;
  std::vector<Tensor> params_;
  double lr_;
};

}  // namespace gn::nn
