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

Evaluator::Evaluator(multitask::MultitaskModel& model, Dataset data, std::int64_t batch, Communicator* comm)
    : model_(model), data_(std::move(data)), batch_(batch <= 0 ? data_.size() : batch), comm_(comm) {
  data_.check("Evaluator");
  GN_CHECK(data_.num_tasks() == model.num_tasks(), "Evaluator: the data has {} targets per sample, the model {} tasks",
           data_.num_tasks(), model.num_tasks());
  for (const auto& task : model.tasks()) {
    metrics_.push_back(task.metrics);
    if (metrics_.back().empty()) metrics_.back().push_back(std::make_shared<multitask::MseMetric>());
  }
}

// One all-reduce of every metric's accumulators, concatenated in task and metric order (the same on every
// rank: the lengths depend on the metrics' configuration alone).
void Evaluator::sum_over_ranks() {
  std::vector<double> all;
  for (const auto& task : metrics_)
    for (const auto& m : task) {
      const std::vector<double> acc = m->accumulators();
      all.insert(all.end(), acc.begin(), acc.end());
    }
  comm_->all_reduce_sum(all);
  std::size_t at = 0;
  for (auto& task : metrics_)
    for (auto& m : task) {
      const std::size_t n = m->accumulators().size();
      m->set_accumulators(std::span<const double>(all).subspan(at, n));
      at += n;
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
  // This rank's shard (the whole set in one process): n/N samples, the first n%N ranks one more.
  const std::int64_t ranks = comm_ != nullptr ? comm_->size() : 1, rank = comm_ != nullptr ? comm_->rank() : 0;
  const std::int64_t base = data_.size() / ranks, extra = data_.size() % ranks;
  const std::int64_t first = rank * base + std::min(rank, extra), last = first + base + (rank < extra ? 1 : 0);
  for (std::int64_t begin = first; begin < last; begin += batch_) {
    const Batch b = data_.slice(begin, std::min(last, begin + batch_));
    const std::vector<Tensor> preds = model_.forward_all(b.x);
    for (std::size_t i = 0; i < metrics_.size(); ++i)
      for (auto& m : metrics_[i]) m->add(preds[i], b.targets[i]);
  }
  if (ranks > 1) sum_over_ranks();
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
