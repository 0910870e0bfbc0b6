// gradnorm-toy: the paper's toy regression (Section 4, Figure 2). Trains each requested loss-weighting
// method from the same initial network on the same data and writes metrics, summaries and a table.
//
// Data parallel: `mpirun -np N gradnorm-toy ...` trains each method on N ranks, each on its slice of every
// global batch of --batch rows (docs/data-parallel.md); rank 0 alone prints and writes files.
//
// Four hops to the GradNorm kernel: run_toy (experiment.cpp) -> app::Trainer::run (apps/common/trainer.cpp)
// -> MultitaskStep::step (multitask/step.cpp) -> cpu::per_task_sq_norms (kernels/cpu/task_norms.cpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <set>

#include "apps/common/checkpoint.h"
#include "apps/common/mpi_main.h"
#include "apps/common/progress.h"
#include "apps/common/writers.h"
#include "apps/toy/experiment.h"
#include "apps/toy/report.h"
#include "apps/toy/toy_args.h"
#include "core/communicator.h"
#include "core/device.h"
#include "core/error.h"
#include "kernels/cpu/threads.h"

namespace {

using namespace gn;

// GN_TOY_CRASH_AT=<rank>:<step>: that rank kills itself (SIGKILL, as kill -9) after that many steps of a
// method: the data-parallel failure test (tests/mpi/toy_data_parallel.sh) checks the job then ends.
std::function<void(std::int64_t)> crash_hook(int rank) {
  const char* spec = std::getenv("GN_TOY_CRASH_AT");
  if (spec == nullptr) return {};
  int crash_rank = -1;
  long long crash_step = -1;
  GN_CHECK(std::sscanf(spec, "%d:%lld", &crash_rank, &crash_step) == 2, "GN_TOY_CRASH_AT='{}': expected <rank>:<step>",
           spec);
  if (crash_rank != rank) return {};
  return [crash_step](std::int64_t done) {
    if (done == crash_step) std::raise(SIGKILL);
  };
}

int run(int argc, char** argv) {
  toy::ToyArgs args = toy::parse_toy_args(argc, argv, std::cout, std::cerr);  // apps/toy/toy_args.cpp
  if (!args.options) return args.exit_code;                                   // --help, or CLI11's message
  toy::ToyOptions& o = *args.options;
  const int tasks = o.tasks;
  const std::vector<double>& sigmas = o.sigmas;
  std::vector<std::string>& methods = o.methods;
  toy::ToyRunConfig& run = o.run;
  toy::ToyDataConfig& data = o.data;
  const std::uint64_t seed = o.seed;
  const int threads = o.threads;
  const std::string& out_dir = o.out_dir;
  const bool quiet = o.quiet, resume = o.resume;
  const Device device = o.device;
  const std::set<std::string> seen(methods.begin(), methods.end());
  const std::unique_ptr<Communicator> comm = make_communicator(o.comm);  // auto: mpi under mpirun
  const bool root = comm->is_root();                                     // rank 0 alone prints and writes
  GN_CHECK(comm->size() == 1 || device.is_cpu(),
           "--comm {}: data parallel training runs on CPU ranks here (use --device cpu)", comm->name());
  if (root && o.device_spec == "auto" && !cuda_available())
    fmt::print(stderr, "gradnorm-toy: using the CPU ({})\n", cuda_unavailable_reason());
  if (root && comm->size() > 1)
    fmt::print(stderr, "gradnorm-toy: {} ranks ({}), global batch {} ({} rows per rank)\n", comm->size(), comm->name(),
               run.batch, run.batch / comm->size());
  cpu::set_num_threads(threads);
  if (root) app::prepare_output_dir(out_dir);  // an unwritable --out fails now, not after the training
  run.comm = comm.get();
  run.after_step = crash_hook(comm->rank());

  data.sigmas = sigmas;
  data.seed = seed;
  run.init_seed = seed * 1000 + 1;
  run.batch_seed = seed * 1000 + 2;
  run.device = device;
  const toy::ToyData toy_data = toy::make_toy_data(data);

  // gradnorm-static trains with E_t[w_i(t)] of a GradNorm run: run gradnorm first (added if not asked for).
  if (seen.contains("gradnorm-static")) {
    std::erase(methods, "gradnorm");
    methods.insert(methods.begin(), "gradnorm");
  }
  // Checkpoints: what must match on --resume (the method is added by run_toy).
  run.resume = resume;
  run.checkpoint_metadata = {{"app", "gradnorm-toy"},
                             {"seed", std::to_string(seed)},
                             {"tasks", std::to_string(tasks)},
                             {"sigmas", fmt::format("{}", fmt::join(sigmas, ","))},
                             {"batch", std::to_string(run.batch)},
                             {"optimizer", run.optimizer},
                             {"train_size", std::to_string(data.train_size)},
                             {"lr", fmt::format("{}", run.lr)},
                             {"lr_decay", fmt::format("{}x{}", run.lr_decay, run.lr_decay_steps)},
                             {"alpha", fmt::format("{}", run.weighting.gradnorm.alpha)},
                             {"weight_lr", fmt::format("{}", run.weighting.gradnorm.lr)},
                             {"weight_param", run.weighting.gradnorm.weight_param},
                             {"norm_params", o.norm_params}};
  GN_CHECK(run.batch >= comm->size(), "--batch {} cannot be split over {} ranks", run.batch, comm->size());
  if (run.checkpoint_every > 0) app::install_stop_handlers();  // Ctrl-C: checkpoint, then exit
  std::unique_ptr<gn::app::Progress> bar;
  const std::vector<toy::ToyRunResult> results = toy::run_methods(
      toy_data, run, methods,
      [&](toy::ToyRunConfig& c) -> toy::Progress {
        const std::filesystem::path ckpt_dir = std::filesystem::path(out_dir) / c.method / "checkpoints";
        c.checkpoint_dir = c.checkpoint_every > 0 || resume ? ckpt_dir.string() : "";
        if (!root) return {};
        bar = std::make_unique<gn::app::Progress>(fmt::format("T={} {}", tasks, c.method));
        return [&](std::int64_t done, std::int64_t total) {
          if (!quiet) bar->update(done, total);
        };
      },
      [&](const toy::ToyRunResult& r) {
        bar.reset();
        if (!root) return;
        if (r.start_step > 0) fmt::print(stderr, "gradnorm-toy: {} resumed at step {}\n", r.method, r.start_step);
        if (!r.failed.empty()) fmt::print(stderr, "gradnorm-toy: {}: {}\n", r.method, r.failed);
      });
  if (!results.empty() && results.back().stopped) {
    const toy::ToyRunResult& r = results.back();
    comm->barrier();  // a non-zero exit aborts the job (MpiSession): not before rank 0 has printed
    if (!root) return 128 + app::stop_signal();
    fmt::print(stderr, "gradnorm-toy: stopped by signal {} during {}; {}\n", app::stop_signal(), r.method,
               r.last_checkpoint.empty() ? std::string("no checkpoint written")
                                         : fmt::format("checkpoint {}: rerun with --resume", r.last_checkpoint));
    return 128 + app::stop_signal();
  }
  const toy::RunInfo info{tasks,
                          sigmas,
                          run.weighting.gradnorm.alpha,
                          run.steps,
                          seed,
                          to_string(device),
                          threads,
                          run.weighting.gradnorm.weight_param,
                          comm->size(),
                          o.norm_params};
  int failed = 0;
  for (const auto& r : results) failed += r.failed.empty() ? 0 : 1;
  if (!root) {
    comm->barrier();  // rank 0 writes the outputs before any non-zero exit aborts the job (MpiSession)
    return failed > 0 ? 3 : 0;
  }
  const std::string run_id = toy::write_outputs(out_dir, info, results);
  fmt::print("{}", toy::result_table(info, results));
  fmt::print("wrote {}/metrics.csv, {}/<method>/summary.json and {}/run.json (run {})\n", out_dir, out_dir, out_dir,
             run_id);
  for (const auto& r : results)
    if (!r.failed.empty()) fmt::print(stderr, "gradnorm-toy: error: {}: {}\n", r.method, r.failed);
  comm->barrier();
  return failed > 0 ? 3 : 0;  // 3: some method diverged (its finished rows and the others' results are written)
}

}  // namespace

int main(int argc, char** argv) { return gn::app::mpi_main(argc, argv, "gradnorm-toy", run); }
