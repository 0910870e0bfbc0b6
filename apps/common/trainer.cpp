#include "apps/common/trainer.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "core/device.h"
#include "core/error.h"

namespace gn::app {

Trainer::Trainer(multitask::MultitaskModel& model, multitask::LossWeighting& weighting, nn::Optimizer& optimizer,
                 BatchSource& source, TrainerConfig config, nn::StepLR* schedule, Evaluator* evaluator)
    : model_(model),
      weighting_(weighting),
      optimizer_(optimizer),
      source_(source),
      config_(config),
      schedule_(schedule),
      evaluator_(evaluator),
      stepper_(model, weighting, optimizer, config.comm,
               static_cast<std::size_t>(std::max(config.bucket_mb, 0.0) * 1024 * 1024)) {
  GN_CHECK(config_.steps >= 0, "Trainer: steps must be >= 0, got {}", config_.steps);
  GN_CHECK(config_.log_every >= 1, "Trainer: log_every must be >= 1, got {}", config_.log_every);
  GN_CHECK(config_.eval_every >= 0, "Trainer: eval_every must be >= 0, got {}", config_.eval_every);
  GN_CHECK(config_.progress_every >= 1, "Trainer: progress_every must be >= 1, got {}", config_.progress_every);
  GN_CHECK(config_.checkpoint_every >= 0, "Trainer: checkpoint_every must be >= 0, got {}", config_.checkpoint_every);
  GN_CHECK(config_.checkpoint_every == 0 || !config_.checkpoint_dir.empty(),
           "Trainer: checkpoint_every is {} but no checkpoint_dir is set", config_.checkpoint_every);
  GN_CHECK(config_.checkpoint_keep >= 1, "Trainer: checkpoint_keep must be >= 1, got {}", config_.checkpoint_keep);
  GN_CHECK(config_.bucket_mb > 0 && config_.bucket_mb <= 1024 * 1024,
           "Trainer: bucket_mb must be in (0, 1048576], got {}", config_.bucket_mb);
  GN_CHECK(source_.batch_size() >= world_size(),
           "Trainer: a global batch of {} rows cannot be split over {} ranks (each needs at least one)",
           source_.batch_size(), world_size());
  const auto [source_rank, source_world] = source_.shard();
  GN_CHECK(source_world == 1 || (source_world == world_size() && source_rank == rank()),
           "Trainer: the batch source delivers the rows of rank {} of {}, but this is rank {} of {}", source_rank,
           source_world, rank(), world_size());
}

void Trainer::broadcast_model() {
  if (world_size() == 1) return;
  for (auto& [name, p] : model_.named_parameters()) config_.comm->broadcast(p, 0);
  for (auto& [name, b] : model_.named_buffers()) config_.comm->broadcast(b, 0);
}

bool Trainer::any_rank_stops() const {
  if (world_size() == 1) return stop_requested();
  double stop[1] = {stop_requested() ? 1.0 : 0.0};
  config_.comm->all_reduce_sum(stop);
  return stop[0] > 0;
}

nn::StateDict Trainer::state_dict() const {
  GN_CHECK(static_cast<bool>(hooks.save_state) == static_cast<bool>(hooks.load_state),
           "Trainer: hooks.save_state and hooks.load_state must be set together");
  nn::StateDict out = own_state();
  if (hooks.save_state)
    for (auto& entry : nn::with_prefix(hooks.save_state(), "app.")) out.push_back(std::move(entry));
  return out;
}

nn::StateDict Trainer::own_state() const {
  nn::StateDict out = nn::with_prefix(model_.state_dict(), "model.");
  auto add = [&out](nn::StateDict part, std::string_view prefix) {
    for (auto& entry : nn::with_prefix(std::move(part), prefix)) out.push_back(std::move(entry));
  };
  add(optimizer_.state_dict(), "optimizer.");
  if (schedule_ != nullptr) add(schedule_->state_dict(), "schedule.");
  add(weighting_.state_dict(), "weighting.");
  add(stepper_.state_dict(), "step.");
  add(source_.state_dict(), "data.");
  out.emplace_back("trainer.step", nn::state_count(stepper_.steps_taken()));
  return out;
}

void Trainer::load_state_dict(const nn::StateDict& state) {
  GN_CHECK(static_cast<bool>(hooks.save_state) == static_cast<bool>(hooks.load_state),
           "Trainer: hooks.save_state and hooks.load_state must be set together");
  // Every entry belongs to a part this run has, and the step counts agree, before anything changes.
  std::vector<std::string> prefixes{"model.", "optimizer.", "weighting.", "step.", "data."};
  if (schedule_ != nullptr) prefixes.push_back("schedule.");
  if (hooks.load_state) prefixes.push_back("app.");
  const Tensor* step_entry = nullptr;
  for (const auto& [name, t] : state) {
    if (name == "trainer.step") {
      step_entry = &t;
      continue;
    }
    GN_CHECK(std::ranges::any_of(prefixes, [&](const std::string& p) { return name.starts_with(p); }),
             "Trainer: load_state_dict: nothing loaded: unexpected entry '{}'{}", name,
             name.starts_with("schedule.") ? " (this run has no lr schedule)" : "");
  }
  GN_CHECK(
      step_entry != nullptr && step_entry->defined() && step_entry->numel() == 1 && step_entry->dtype() == DType::Int64,
      "Trainer: load_state_dict: nothing loaded: 'trainer.step' is missing or not one int64");
  const std::int64_t done = nn::read_count(*step_entry);
  GN_CHECK(done >= 0 && done <= config_.steps,
           "Trainer: load_state_dict: nothing loaded: the state is at step {}, outside this run's 0 .. {} steps", done,
           config_.steps);
  const nn::StateDict step_part = nn::strip_prefix(state, "step.");
  for (const auto& [name, t] : step_part)
    if (name == "steps" && t.defined() && t.numel() == 1 && t.dtype() == DType::Int64)
      GN_CHECK(nn::read_count(t) == done,
               "Trainer: load_state_dict: nothing loaded: 'step.steps' is {} but 'trainer.step' is {}",
               nn::read_count(t), done);

  // Each part loads all or nothing; if one refuses, put back the ones already loaded (the app's part is
  // the last: it never needs putting back).
  const nn::StateDict before = own_state();
  struct Part {
    std::string prefix;
    std::function<void(const nn::StateDict&)> load;
  };
  std::vector<Part> parts{{"model.", [&](const nn::StateDict& s) { model_.load_state_dict(s); }},
                          {"optimizer.", [&](const nn::StateDict& s) { optimizer_.load_state_dict(s); }}};
  if (schedule_ != nullptr)
    parts.push_back({"schedule.", [&](const nn::StateDict& s) { schedule_->load_state_dict(s); }});
  parts.push_back({"weighting.", [&](const nn::StateDict& s) { weighting_.load_state_dict(s); }});
  parts.push_back({"step.", [&](const nn::StateDict& s) { stepper_.load_state_dict(s); }});
  parts.push_back({"data.", [&](const nn::StateDict& s) { source_.load_state_dict(s); }});
  if (hooks.load_state) parts.push_back({"app.", hooks.load_state});
  std::size_t loaded = 0;
  try {
    for (; loaded < parts.size(); ++loaded) parts[loaded].load(nn::strip_prefix(state, parts[loaded].prefix));
  } catch (const std::exception& e) {
    for (std::size_t k = 0; k < loaded; ++k) parts[k].load(nn::strip_prefix(before, parts[k].prefix));
    GN_FAIL("Trainer: load_state_dict: nothing loaded: {}", e.what());
  }
  start_step_ = done;
}

void Trainer::resume(const std::filesystem::path& path) {
  const nn::SafetensorsFile file = load_checkpoint(path);
  for (const auto& [key, value] : config_.checkpoint_metadata) {
    if (key == "format") continue;
    const std::string* got = file.find(key);
    GN_CHECK(got != nullptr && *got == value, "checkpoint {}: written with {} = {}, but this run has {} = '{}'",
             path.string(), key, got ? fmt::format("'{}'", *got) : std::string("(none)"), key, value);
  }
  try {
    load_state_dict(file.tensors);
  } catch (const Error& e) {
    GN_FAIL("checkpoint {}: {}", path.string(), e.what());
  }
}

std::filesystem::path Trainer::save_checkpoint() {
  GN_CHECK(!config_.checkpoint_dir.empty(), "Trainer: save_checkpoint needs config.checkpoint_dir");
  stepper_.check_divergence();  // never checkpoint a diverged state (on CUDA the record is read here)
  const std::int64_t done = stepper_.steps_taken();
  nn::Metadata meta = config_.checkpoint_metadata;
  std::erase_if(meta, [](const auto& kv) { return kv.first == "step"; });
  meta.emplace_back("step", std::to_string(done));
  const std::filesystem::path path = checkpoint_path(config_.checkpoint_dir, done);
  app::save_checkpoint(path, state_dict(), std::move(meta));
  prune_checkpoints(config_.checkpoint_dir, config_.checkpoint_keep);
  return path;
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
  TrainSummary summary{config_.steps, 0, 0, start_step_};
  broadcast_model();  // identical replicas (they are built from one seed; this makes sure)
  if (config_.log_at_start && start_step_ == 0) {
    evaluate(0);
    multitask::StepStats start;
    start.step = 0;
    if (hooks.on_log) hooks.on_log(0, start);
  }
  std::vector<double> step_ms, comm_ms;
  step_ms.reserve(static_cast<std::size_t>(config_.steps));
  comm_ms.reserve(static_cast<std::size_t>(config_.steps));
  for (std::int64_t t = start_step_; t < config_.steps; ++t) {
    if (hooks.before_step) hooks.before_step(t);
    Batch batch = source_.next();
    if (world_size() > 1 && source_.shard().second == 1) {  // this rank's slice of the global batch (views)
      const auto [begin, end] = shard_range(batch.x.size(0), rank(), world_size());
      batch.x = batch.x.slice(begin, end);
      for (Tensor& y : batch.targets) y = y.slice(begin, end);
    }
    const bool log_now = is_log_step(t);
    const bool trace_now = t < config_.trace_steps;
    const auto t0 = std::chrono::steady_clock::now();
    const double comm0 = stepper_.comm_ms();
    const multitask::StepStats stats = stepper_.step(batch.x, batch.targets, log_now || trace_now);
    synchronize(batch.x.device());  // the timer measures finished work, not queued launches (a no-op on the CPU)
    step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    comm_ms.push_back(stepper_.comm_ms() - comm0);
    if (schedule_ != nullptr) schedule_->step();
    if (trace_now && hooks.on_trace) hooks.on_trace(stats);
    if (is_eval_step(t)) evaluate(t + 1);
    if (log_now && hooks.on_log) hooks.on_log(t + 1, stats);
    if (hooks.on_progress && ((t + 1) % config_.progress_every == 0 || t + 1 == config_.steps))
      hooks.on_progress(t + 1, config_.steps);
    if (hooks.after_step) hooks.after_step(t + 1, stats);
    const bool stop = any_rank_stops();
    const bool checkpoint_now =
        config_.checkpoint_every > 0 && ((t + 1) % config_.checkpoint_every == 0 || t + 1 == config_.steps);
    if ((checkpoint_now || (stop && !config_.checkpoint_dir.empty())) && rank() == 0)
      summary.last_checkpoint = save_checkpoint();  // rank 0 alone: the replicas hold the same state
    if (stop) {
      summary.steps = t + 1;
      summary.stopped = true;
      break;
    }
  }
  auto median = [](std::vector<double>& v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  if (!step_ms.empty()) {
    summary.step_ms_median = median(step_ms);
    summary.comm_ms_median = median(comm_ms);
  }
  return summary;
}

}  // namespace gn::app
