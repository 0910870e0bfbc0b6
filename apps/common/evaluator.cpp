#include "apps/common/evaluator.h"

#include <algorithm>
#include <utility>

#include "core/autograd.h"
#include "core/error.h"

namespace gn::app {

std::vector<double> EvalResult::first() const {
  std::vector<double> out;
  out.reserve(tasks.size());
  for (const auto& t : tasks) out.push_back(t.values.at(0));
  return out;
}

std::vector<multitask::MetricValue> TaskScores::metric_values() const {
  std::vector<multitask::MetricValue> out;
  for (std::size_t k = 0; k < values.size(); ++k) out.push_back({metrics.at(k), values[k], higher_is_better.at(k)});
  return out;
}

Evaluator::Evaluator(multitask::MultitaskModel& model, Dataset data, std::int64_t batch)
    : model_(model), data_(std::move(data)), batch_(batch <= 0 ? data_.size() : batch) {
  data_.check("Evaluator");
  GN_CHECK(data_.num_tasks() == model.num_tasks(), "Evaluator: the data has {} targets per sample, the model {} tasks",
           data_.num_tasks(), model.num_tasks());
  for (const auto& task : model.tasks()) {
    metrics_.push_back(task.metrics);
    if (metrics_.back().empty()) metrics_.back().push_back(std::make_shared<multitask::MseMetric>());
  }
}

EvalResult Evaluator::evaluate() {
  NoGradGuard no_grad;
  struct RestoreMode {  // also when a forward or a metric throws
    nn::Module& model;
    bool training;
    ~RestoreMode() { model.train(training); }
  } restore{model_, model_.is_training()};
  model_.eval();
  for (auto& task : metrics_)
    for (auto& m : task) m->reset();
  const std::int64_t N = data_.size();
  for (std::int64_t begin = 0; begin < N; begin += batch_) {
    const Batch b = data_.slice(begin, std::min(N, begin + batch_));
    const std::vector<Tensor> preds = model_.forward_all(b.x);
    for (std::size_t i = 0; i < metrics_.size(); ++i)
      for (auto& m : metrics_[i]) m->add(preds[i], b.targets[i]);
  }
  EvalResult r;
  for (std::size_t i = 0; i < metrics_.size(); ++i) {
    TaskScores s{model_.task(static_cast<int>(i)).name, {}, {}, {}};
    for (const auto& m : metrics_[i])
      for (const multitask::MetricValue& v : m->values()) {
        s.metrics.push_back(v.name);
        s.values.push_back(v.value);
        s.higher_is_better.push_back(v.higher_is_better);
      }
    r.tasks.push_back(std::move(s));
  }
  return r;
}

}  // namespace gn::app
