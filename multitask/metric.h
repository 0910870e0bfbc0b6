#pragma once
// Evaluation metrics, accumulated over a whole evaluation set (never an average of per-batch averages):
// reset(), add() every batch, then value().
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace gn::multitask {

class Metric {
 public:
  virtual ~Metric() = default;
  virtual std::string name() const = 0;
  virtual bool higher_is_better() const = 0;
  virtual void reset() = 0;
  virtual void add(const Tensor& pred, const Tensor& target) = 0;  // one batch
  virtual double value() const = 0;                                // over every batch since reset()
};

// The mean squared error over every element seen: sum of squares / count, in double.
class MseMetric : public Metric {
 public:
  std::string name() const override { return "mse"; }
  bool higher_is_better() const override { return false; }
  void reset() override;
  void add(const Tensor& pred, const Tensor& target) override;
  double value() const override;  // throws if nothing was added

 private:
  double sum_ = 0;
  std::int64_t count_ = 0;
};

}  // namespace gn::multitask
