#pragma once
// Loss-weighting methods behind one interface. Each method is written once, over T-length tensors on the
// model's device: the step hands it this step's losses (and, if it asks, the per-task gradient norms at
// W) as device tensors, and the method moves w(t) to w(t+1) with ops and dispatched kernels, so the same
// code runs on the CPU and on CUDA with no host synchronisation. Host copies are made only on request
// (read_weights, read_diagnostics: logging steps). Every method takes the same step path; equal and
// static weights never move, so GradNorm's overhead is its norms and its update alone.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict.h"

namespace gn::multitask {

// Training diverged: a loss, a gradient norm or a weight became inf or NaN. The message names the step, the
// task (index and name) and the quantity, e.g. "training diverged at step 17: task 1 ('task1') loss L_1 is
// inf". step: the 0-based training step where the first non-finite value was found (-1 when unknown).
struct TrainingDiverged : Error {
  TrainingDiverged(std::int64_t step, const std::string& message) : Error(message), step(step) {}
  std::int64_t step;
};

// What one step hands its weighting, on the weighting's device.
struct TaskSignals {
  std::int64_t step = 0;  // 0-based training step
  Tensor losses;          // (T) float64: L_i(t)
  Tensor sq_norms;        // (T) float64: G_i^2 = ||grad_W w_i L_i||^2; defined when needs_grad_norms()
  Tensor norm_flags;      // (T) Int64 storage holding T ints: non-finite flags of the norm kernel; or undefined
};

// Named host copies of a method's per-update internals, for logging, --trace and tests. A method lists
// what it has (GradNorm: L_i(0), ratios, rates, targets, ...); a generic caller prints them all.
struct Diagnostics {
  std::vector<std::pair<std::string, std::vector<double>>> entries;

  void add(std::string name, std::vector<double> values) { entries.emplace_back(std::move(name), std::move(values)); }
  bool has(std::string_view name) const;
  const std::vector<double>& at(std::string_view name) const;  // throws naming the missing entry
};

class LossWeighting {
 public:
  explicit LossWeighting(int num_tasks);
  virtual ~LossWeighting() = default;
  LossWeighting(const LossWeighting&) = delete;
  LossWeighting& operator=(const LossWeighting&) = delete;

  virtual std::string name() const = 0;
  virtual bool needs_grad_norms() const { return false; }
  // With grad norms: true when G_i is taken over W's first parameter (its weight) alone, false when over
  // all of W's parameters (weight and bias).
  virtual bool norms_over_weight_only() const { return false; }
  int num_tasks() const { return num_tasks_; }

  // Puts the method's state on `device` and keeps w there in `dtype` too (the loss kernels read it). A
  // no-op when already there; the step calls it with the model's device and dtype. Throws naming the
  // method when the device cannot be used.
  void to(Device device, DType dtype);
  Device device() const { return w_.device(); }
  // (T) w_i(t) in the model's dtype on the method's device.
  const Tensor& weights() const { return w_; }
  // (T) w_i(t) as float64 on the method's device: the weights as the method keeps them.
  const Tensor& master_weights() const { return w_master_; }
  // w_i(t) as float64 on the host (a sync point on CUDA).
  std::vector<double> read_weights() const { return w_master_.to_vector(); }

  // w(t) -> w(t+1) from one step's signals, which must be on the method's device (checked, naming the
  // method). On the CPU a diverged update throws at once; on CUDA it is reported by check_health().
  void update(const TaskSignals& signals);
  std::int64_t updates() const { return updates_; }
  // The last update's internals (host copies; a sync point on CUDA). Empty for methods that have none.
  virtual Diagnostics read_diagnostics() const { return {}; }
  // Throws, naming the method and the update, when an update found non-finite numbers (a host read).
  virtual void check_health() const {}

  // Everything the next update depends on, for checkpoints: "updates" and the method's own entries
  // (clones). Loading checks every entry before changing anything (nn/state_dict.h) and leaves the method
  // on its own device.
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 protected:
  virtual void do_update(const TaskSignals&) {}
  // The method's entries of state_dict() as live tensors (default: "weights", w_master_); loading copies
  // into them, then calls after_load().
  virtual nn::StateDict live_state() const { return {{"weights", w_master_}}; }
  // State kept elsewhere (an inner optimizer's), saved as prefixed copies. load_extra_state gets every
  // entry that is not "updates" or a live_state() name; it validates them all before changing anything.
  virtual nn::StateDict extra_state() const { return {}; }
  virtual void load_extra_state(const nn::StateDict& extra);
  virtual void after_load() { publish_weights(); }
  // Moves the subclass's own tensors, and w_master_, to `device` (default: w_master_ alone).
  virtual void move_state(Device device);
  // w_master_ -> w_ (the model-dtype copy), on the device.
  void publish_weights();

  Tensor w_master_;  // (T) float64 w_i(t): the weights as the method keeps them
  Tensor w_;         // (T) the same in the model's dtype

 private:
  int num_tasks_;
  std::int64_t updates_ = 0;
};

// w_i = 1 for every task.
class EqualWeighting : public LossWeighting {
 public:
  explicit EqualWeighting(int num_tasks);
  std::string name() const override { return "equal"; }
};

// User-given constant weights (each > 0), e.g. GradNorm's time-averaged weights ("gradnorm-static").
class StaticWeighting : public LossWeighting {
 public:
  StaticWeighting(std::vector<double> weights, std::string name = "static");
  std::string name() const override { return name_; }

 private:
  std::string name_;
};

}  // namespace gn::multitask
