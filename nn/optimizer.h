#pragma once
// Optimizer: updates a fixed list of parameters in place from their .grad(). Subclasses allocate all their
// state (momentum, moments) in the constructor, so step() allocates nothing; the arithmetic lives in
// kernels/cpu/optim.h.
//
//   loss = ...; opt.zero_grad(); backward(loss); opt.step();
#include <cstddef>
#include <vector>

#include "core/tensor.h"

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

 protected:
  // `name` ("SGD", "Adam") prefixes every error message.
  Optimizer(const char* name, std::vector<Tensor> params, double lr);
  // True when params()[i] has a gradient to apply; throws, naming `kernel`, when it cannot be applied here
  // (CUDA parameters, grad of another dtype/shape/device).
  bool has_grad_to_apply(std::size_t i, const char* kernel) const;
  const char* name() const { return name_; }

 private:
  const char* name_;
  std::vector<Tensor> params_;
  double lr_;
};

}  // namespace gn::nn
