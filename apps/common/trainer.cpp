#include "apps/common/trainer.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "core/device.h"
#include "core/error.h"

namespace gn::app {

Trainer::Trainer(multitask::MultitaskModel& model, multitask::LossWeighting& weighting, nn::Optimizer& optimizer,
                 BatchSource& source, TrainerConfig config, nn::StepLR* schedule, Evaluator* evaluator)
    : source_(source),
      config_(config),
      schedule_(schedule),
      evaluator_(evaluator),
      stepper_(model, weighting, optimizer) {
  GN_CHECK(config_.steps >= 0, "Trainer: steps must be >= 0, got {}", config_.steps);
  GN_CHECK(config_.log_every >= 1, "Trainer: log_every must be >= 1, got {}", config_.log_every);
  GN_CHECK(config_.eval_every >= 0, "Trainer: eval_every must be >= 0, got {}", config_.eval_every);
  GN_CHECK(config_.progress_every >= 1, "Trainer: progress_every must be >= 1, got {}", config_.progress_every);
}

bool Trainer::is_log_step(std::int64_t t) const { return (t + 1) % config_.log_every == 0 || t + 1 == config_.steps; }

bool Trainer::is_eval_step(std::int64_t t) const {
  if (config_.eval_every == 0) return is_log_step(t);
  return (t + 1) % config_.eval_every == 0 || t + 1 == config_.steps;
}

void Trainer::evaluate(std::int64_t done) {
  if (evaluator_ == nullptr) return;
  const EvalResult result = evaluator_->evaluate();
  if (hooks.on_eval) hooks.on_eval(done, result);
}

TrainSummary Trainer::run() {
  if (config_.log_at_start) {
    evaluate(0);
    multitask::StepStats start;
    start.step = 0;
    if (hooks.on_log) hooks.on_log(0, start);
  }
  std::vector<double> step_ms;
  step_ms.reserve(static_cast<std::size_t>(config_.steps));
  for (std::int64_t t = 0; t < config_.steps; ++t) {
    if (hooks.before_step) hooks.before_step(t);
    const Batch batch = source_.next();
    const bool log_now = is_log_step(t);
    const bool trace_now = t < config_.trace_steps;
    const auto t0 = std::chrono::steady_clock::now();
    const multitask::StepStats stats = stepper_.step(batch.x, batch.targets, log_now || trace_now);
    synchronize(batch.x.device());  // the timer measures finished work, not queued launches (a no-op on the CPU)
    step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (schedule_ != nullptr) schedule_->step();
    if (trace_now && hooks.on_trace) hooks.on_trace(stats);
    if (is_eval_step(t)) evaluate(t + 1);
    if (log_now && hooks.on_log) hooks.on_log(t + 1, stats);
    if (hooks.on_progress && ((t + 1) % config_.progress_every == 0 || t + 1 == config_.steps))
      hooks.on_progress(t + 1, config_.steps);
    if (hooks.after_step) hooks.after_step(t + 1, stats);
  }
  TrainSummary summary{config_.steps, 0};
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    summary.step_ms_median = step_ms[step_ms.size() / 2];
  }
  return summary;
}

}  // namespace gn::app
