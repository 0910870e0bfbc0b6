// gradnorm-nyuv2: the paper's NYUv2 experiments (Section 5). Subcommands:
//   synth   write synthetic NYUv2-like scenes in the preprocessed per-sample layout (synth.h)
//   train   train SegNet or the thin ResNet FCN on any subset of seg, depth, normal, keypoint with one
//           loss-weighting method (experiment.cpp -> app::Trainer -> MultitaskStep)
//   eval    metrics of a checkpoint on the val split, optionally dumping its predictions as .npy
//   report  a Table-1-style markdown table of finished runs
// Exit status: 0 done, 1 an error while working, 2 bad input (flags, data, output folder; found before any
// work), 3 training diverged (outputs are still written), 128 + signal when stopped by SIGINT/SIGTERM.
//
// Data parallel: `mpirun -np N gradnorm-nyuv2 train ... --device cpu` trains on N ranks, each on its slice of
// every global batch of --batch samples and its shard of val (docs/data-parallel.md); rank 0 alone prints,
// writes the outputs and the checkpoints. Under MPI a failure on one rank (an exception, a non-zero exit
// code) ends the whole job (MpiSession::run). The other subcommands run in one process.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>

#include "apps/common/checkpoint.h"
#include "apps/common/cli_checks.h"
#include "apps/common/mpi_main.h"
#include "apps/common/progress.h"
#include "apps/common/writers.h"
#include "apps/nyuv2/convert_cli.h"
#include "apps/nyuv2/experiment.h"
#include "apps/nyuv2/report.h"
#include "apps/nyuv2/synth.h"
#include "core/communicator.h"
#include "core/device.h"
#include "core/error.h"
#include "kernels/cpu/threads.h"
#include "multitask/initial_loss.h"
#include "nn/optimizer_factory.h"

namespace {

using namespace gn;
namespace fs = std::filesystem;

constexpr std::int64_t kMaxSteps = 1'000'000'000, kMaxCount = 100'000'000;

// Bad input: printed as "gradnorm-nyuv2: error: ..." with exit status 2.
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class F>
void as_bad_input(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    throw BadInput(e.what());
  }
}

Device device_of(const std::string& spec, bool root = true) {
  Device d = cpu_device();
  as_bad_input([&] { d = parse_device(spec); });
  if (root && spec == "auto" && !cuda_available())
    fmt::print(stderr, "gradnorm-nyuv2: using the CPU ({})\n", cuda_unavailable_reason());
  return d;
}

void check_data_dir(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw BadInput(fmt::format("--data {}: no such directory", dir.string()));
}

struct TrainArgs {
  nyuv2::TrainConfig config;
  std::vector<std::string> tasks{"seg", "depth", "normal"};
  std::string initial_loss = "first-step", device = "auto";
  std::string comm = "auto", sync_bn = "auto";
  bool quiet = false;
};

void add_train(CLI::App& root, TrainArgs& a) {
  CLI::App* cmd = root.add_subcommand("train", "train one method on the data's train split, evaluating on val");
  nyuv2::TrainConfig& c = a.config;
  c.weighting.gradnorm.alpha = 1.5;  // the paper's NYUv2 value
  cmd->add_option("--data", c.data, "data folder (DIR/{train,val}/...)")->required();
  cmd->add_option("--out", c.out, "run folder: RUN/metrics.csv, RUN/<method>/summary.json, RUN/run.json")->required();
  cmd->add_option("--model", c.model, "segnet or resnet-fcn")->check(CLI::IsMember({"segnet", "resnet-fcn"}));
  cmd->add_option("--width-mult", c.width_mult, "channel multiplier (1: the paper's network)")
      ->check(app::finite_in(0, 16, true));
  cmd->add_option("--output-stride", c.output_stride, "SegNet: 1 (full decoder) or 4; ResNet FCN: 4 (0: default)")
      ->check(app::int_in(0, 4));
  cmd->add_option("--tasks", a.tasks, "comma separated subset of seg,depth,normal,keypoint")->delimiter(',');
  cmd->add_option("--method,--methods", c.method, "equal, static, gradnorm, uncertainty or gradnorm-static");
  cmd->add_option("--alpha", c.weighting.gradnorm.alpha, "GradNorm asymmetry alpha")->check(app::finite_in(0, 100));
  cmd->add_option("--static-weights", c.weighting.static_weights, "weights of static / gradnorm-static, one per task")
      ->delimiter(',')
      ->check(app::finite_positive());
  cmd->add_option("--weight-param", c.weighting.gradnorm.weight_param, "GradNorm weights: linear, log or softmax")
      ->check(CLI::IsMember({"linear", "log", "softmax"}));
  cmd->add_option("--weight-lr", c.weighting.gradnorm.lr, "learning rate of the loss weights (paper: 0.025)")
      ->check(app::finite_positive());
  cmd->add_option("--initial-loss", a.initial_loss,
                  "L_i(0): first-step, mean-of-first:K, given:v1,v2,... or natural (log 13 for seg; every task "
                  "must have one)");
  cmd->add_option("--steps", c.steps, "training steps")->check(app::int_in(1, kMaxSteps));
  cmd->add_option("--batch", c.batch, "batch size")->check(app::int_in(1, kMaxCount));
  cmd->add_option("--optimizer", c.optimizer, "network optimizer")->check(CLI::IsMember(nn::optimizer_names()));
  cmd->add_option("--lr", c.lr, "network learning rate")->check(app::finite_positive());
  cmd->add_option("--lr-decay", c.lr_decay, "lr factor every --lr-decay-steps")->check(app::finite_in(0, 1, true));
  cmd->add_option("--lr-decay-steps", c.lr_decay_steps, "0: constant lr")->check(app::int_in(0, kMaxSteps));
  cmd->add_option("--eval-every", c.eval_every, "evaluate on val and log a metrics row every N steps (and the last)")
      ->check(app::int_in(1, kMaxSteps));
  cmd->add_option("--eval-batch", c.eval_batch, "evaluation batch size")->check(app::int_in(1, kMaxCount));
  cmd->add_option("--checkpoint-every", c.checkpoint_every,
                  "RUN/<method>/checkpoints/ckpt-<step>.safetensors every N steps and the last (0: never)")
      ->check(app::int_in(0, kMaxSteps));
  cmd->add_option("--keep-checkpoints", c.checkpoint_keep, "checkpoints kept (the latest)")
      ->check(app::int_in(1, 1000000));
  cmd->add_flag("--resume", c.resume, "continue from the latest checkpoint in RUN/<method>/checkpoints");
  cmd->add_option("--seed", c.seed, "seed of the initial network and the batch order")->check(app::unsigned_int());
  cmd->add_option("--device", a.device, "auto, cpu or cuda");
  cmd->add_option("--threads", c.threads, "CPU threads")->check(app::int_in(1, 256));
  cmd->add_flag("--augment", c.augment, "LibMTL's random scale-crop and flip");
  cmd->add_flag("--quiet", a.quiet, "no progress bar");
  cmd->add_option("--comm", a.comm,
                  "data-parallel communicator: auto (mpi under mpirun, else single), single or mpi; --batch stays "
                  "the global batch, each rank trains on its slice")
      ->check(CLI::IsMember({"auto", "single", "mpi"}));
  cmd->add_option("--bucket-mb", c.bucket_mb, "gradient all-reduce bucket size in MiB (data parallel)")
      ->check(app::finite_in(1e-6, 1024 * 1024));
  cmd->add_option("--sync-bn", a.sync_bn,
                  "batch norm over the global batch across ranks: auto (on with more than one rank), on or off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
}

// Everything that can be checked before training: the settings, the data's headers, the output folder
// (rank 0 alone prepares it: the other ranks write nothing).
void validate_train(TrainArgs& a, const Communicator& comm) {
  nyuv2::TrainConfig& c = a.config;
  if (a.tasks.empty()) throw BadInput("--tasks is empty");
  std::set<nyuv2::NyuTask> seen;
  c.tasks.clear();
  for (const auto& name : a.tasks) {
    nyuv2::NyuTask t{};
    as_bad_input([&] { t = nyuv2::parse_task(name); });
    if (!seen.insert(t).second) throw BadInput(fmt::format("--tasks: '{}' is listed twice", name));
    c.tasks.push_back(t);
  }
  const int T = static_cast<int>(c.tasks.size());
  as_bad_input([&] {
    const auto& names = multitask::weighting_names();
    GN_CHECK(std::ranges::find(names, c.method) != names.end(), "--method: unknown method '{}' (expected one of {})",
             c.method, fmt::join(names, ", "));
    if (c.method == "static" || c.method == "gradnorm-static")
      GN_CHECK(std::ssize(c.weighting.static_weights) == T, "--method {} needs --static-weights with {} values",
               c.method, T);
    if (a.initial_loss == "natural") {
      std::vector<double> given;
      for (const nyuv2::TaskSpec& s : nyuv2::make_task_specs(c.tasks, 1)) {
        GN_CHECK(s.loss.natural_initial_loss.has_value(),
                 "--initial-loss natural: task '{}' has no natural initial loss (use first-step or given:...)", s.name);
        given.push_back(*s.loss.natural_initial_loss);
      }
      c.weighting.gradnorm.initial_loss = multitask::InitialLoss::given(given);
    } else {
      c.weighting.gradnorm.initial_loss = multitask::InitialLoss::parse(a.initial_loss);
      if (c.weighting.gradnorm.initial_loss.mode() == multitask::InitialLoss::Mode::Given)
        GN_CHECK(std::ssize(c.weighting.gradnorm.initial_loss.values()) == T,
                 "--initial-loss given: {} values for {} tasks", c.weighting.gradnorm.initial_loss.values().size(), T);
    }
    multitask::make_weighting(c.method, T, c.weighting);  // every weighting setting, now
    nyuv2::ModelSpec probe;
    probe.kind = nyuv2::parse_model_kind(c.model);
    probe.output_stride = c.output_stride;
    GN_CHECK(c.output_stride == 0 || c.output_stride == 1 || c.output_stride == 4, "--output-stride {} is not 1 or 4",
             c.output_stride);
    nyuv2::resolved_output_stride(probe);
  });
  c.device = device_of(a.device, comm.is_root());
  if (comm.size() > 1 && !c.device.is_cpu())
    throw BadInput(
        fmt::format("--comm {}: data-parallel training runs on CPU ranks here (use --device cpu)", comm.name()));
  if (c.batch < comm.size())
    throw BadInput(
        fmt::format("--batch {} cannot be split over {} ranks (each needs at least one sample)", c.batch, comm.size()));
  check_data_dir(c.data);
  as_bad_input([&] {
    const nyuv2::NyuDataset train(c.data, "train", c.tasks), val(c.data, "val", c.tasks);
    GN_CHECK(c.batch <= train.size(), "--batch {} is larger than the training split ({} samples)", c.batch,
             train.size());
    GN_CHECK(train.height() == val.height() && train.width() == val.width(),
             "the train split is {}x{} but val is {}x{}", train.height(), train.width(), val.height(), val.width());
    if (c.model == "segnet")
      GN_CHECK(train.height() >= 32 && train.width() >= 32, "SegNet needs images of at least 32x32, the data is {}x{}",
               train.height(), train.width());
    if (comm.is_root()) app::prepare_output_dir(c.out);  // last: a refused run leaves no folder behind
  });
}

int run_train_cmd(TrainArgs& a) {
  std::unique_ptr<Communicator> comm;
  as_bad_input([&] { comm = make_communicator(a.comm); });  // auto: mpi under mpirun
  const bool root = comm->is_root();                        // rank 0 alone prints and writes
  validate_train(a, *comm);
  comm->barrier();  // the output folder is ready before any rank looks for checkpoints in it
  nyuv2::TrainConfig& c = a.config;
  c.comm = comm.get();
  c.sync_bn = a.sync_bn == "on" || (a.sync_bn == "auto" && comm->size() > 1);
  if (root && comm->size() > 1)
    fmt::print(stderr, "gradnorm-nyuv2: {} ranks ({}), global batch {} ({} to {} samples per rank), batch norm {}\n",
               comm->size(), comm->name(), c.batch, c.batch / comm->size(), (c.batch + comm->size() - 1) / comm->size(),
               c.sync_bn ? "synchronised" : "per rank");
  cpu::set_num_threads(c.threads);
  if (c.checkpoint_every > 0) app::install_stop_handlers();
  std::unique_ptr<app::Progress> bar;
  if (!a.quiet && root) {
    bar = std::make_unique<app::Progress>(fmt::format("nyuv2 {}", c.method));
    c.progress = [&](std::int64_t done, std::int64_t total) { bar->update(done, total); };
  }
  const nyuv2::TrainResult r = nyuv2::run_train(c);
  bar.reset();
  if (!root) {  // rank 0 prints and writes; a non-zero exit aborts the job (MpiSession): not before that
    comm->barrier();
    return r.stopped ? 128 + app::stop_signal() : r.diverged ? 3 : 0;
  }
  if (r.start_step > 0) fmt::print(stderr, "gradnorm-nyuv2: resumed at step {}\n", r.start_step);
  if (r.stopped) {
    fmt::print(stderr, "gradnorm-nyuv2: stopped by signal {}; rerun with --resume\n", app::stop_signal());
    comm->barrier();
    return 128 + app::stop_signal();
  }
  nyuv2::write_train_outputs(c, r);
  if (r.diverged) {
    fmt::print(stderr, "gradnorm-nyuv2: error: {}\n", r.status);
    comm->barrier();
    return 3;
  }
  fmt::print("{} ({} parameters): score {:.4f}, task errors {:.4f}, weights {:.3f}\n", c.method, r.parameters, r.score,
             fmt::join(r.task_errors, " "), fmt::join(r.final_weights, " "));
  fmt::print("wrote {}/metrics.csv, {}/{}/summary.json and {}/run.json\n", c.out.string(), c.out.string(), c.method,
             c.out.string());
  comm->barrier();
  return 0;
}

}  // namespace

static int run(int argc, char** argv) {
  CLI::App root{"gradnorm-nyuv2: GradNorm and other loss weightings on NYUv2 (segmentation, depth, normals)"};
  root.require_subcommand(1);

  nyuv2::SynthSpec synth;
  fs::path synth_out;
  CLI::App* s = root.add_subcommand("synth", "write synthetic NYUv2-like scenes (NOT real NYUv2) in the .npy layout");
  s->add_option("--out", synth_out, "data folder to write")->required();
  s->add_option("--train", synth.train, "training samples")->check(gn::app::int_in(1, kMaxCount));
  s->add_option("--val", synth.val, "validation samples")->check(gn::app::int_in(1, kMaxCount));
  s->add_option("--height", synth.height, "image height")->check(gn::app::int_in(8, 8192));
  s->add_option("--width", synth.width, "image width")->check(gn::app::int_in(8, 8192));
  s->add_option("--seed", synth.seed, "scene seed")->check(gn::app::unsigned_int());
  s->add_option("--keypoints", synth.keypoints, "keypoint heatmap channels K (0: none)")
      ->check(gn::app::int_in(0, 1024));

  TrainArgs train;
  add_train(root, train);

  nyuv2::EvalConfig ev;
  std::string ev_device = "auto";
  int ev_threads = 1;
  CLI::App* e = root.add_subcommand("eval", "evaluate a checkpoint on the val split");
  e->add_option("--data", ev.data, "data folder")->required();
  e->add_option("--checkpoint", ev.checkpoint, "a train checkpoint (RUN/<method>/checkpoints/ckpt-N.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  e->add_option("--out", ev.out, "writes OUT/metrics.json (and OUT/pred/<task>/<id>.npy)")->required();
  e->add_flag("--dump-predictions", ev.dump_predictions,
              "write the predictions at the targets' resolution: seg int64 HxW, depth float32 HxW, normal HxWx3");
  e->add_option("--batch", ev.batch, "evaluation batch size")->check(gn::app::int_in(1, kMaxCount));
  e->add_option("--device", ev_device, "auto, cpu or cuda");
  e->add_option("--threads", ev_threads, "CPU threads")->check(gn::app::int_in(1, 256));

  std::vector<fs::path> report_runs;
  fs::path report_out;
  CLI::App* r = root.add_subcommand("report", "a Table-1-style markdown table of run summaries");
  r->add_option("runs", report_runs, "run folders (RUN/<method>/summary.json) or summary files")->required();
  r->add_option("--out", report_out, "also write the table to this file");

  const nyuv2::ConvertCommand convert = nyuv2::add_convert_command(root);  // convert_cli.h

  try {
    root.parse(argc, argv);
    app::refuse_empty_list_items(root, argc, argv);
  } catch (const CLI::CallForHelp& err) {
    return root.exit(err);
  } catch (const CLI::CallForAllHelp& err) {
    return root.exit(err);
  } catch (const CLI::ParseError& err) {
    root.exit(err);
    return 2;
  }
  try {
    if (launcher_world_size() > 1 && !root.got_subcommand("train"))
      throw BadInput("only `train` runs data parallel; run the other subcommands in one process (without mpirun)");
    if (s->parsed()) {
      as_bad_input([&] { gn::app::prepare_output_dir(synth_out); });
      nyuv2::write_synthetic_nyuv2(synth_out, synth);
      fmt::print("wrote {} train and {} val synthetic scenes of {}x{} to {}\n", synth.train, synth.val, synth.height,
                 synth.width, synth_out.string());
      return 0;
    }
    if (convert.parsed()) return nyuv2::run_convert_command(convert);
    if (root.got_subcommand("train")) return run_train_cmd(train);
    if (e->parsed()) {
      check_data_dir(ev.data);
      as_bad_input([&] { gn::app::prepare_output_dir(ev.out); });
      ev.device = device_of(ev_device);
      gn::cpu::set_num_threads(ev_threads);
      const nyuv2::EvalOutput out = nyuv2::run_eval(ev);
      for (const auto& v : out.metrics) fmt::print("{} {:.6g}\n", v.key, v.value);
      fmt::print("wrote {}/metrics.json{}\n", ev.out.string(), ev.dump_predictions ? " and pred/" : "");
      return 0;
    }
    if (r->parsed()) {
      std::string table;
      as_bad_input([&] { table = nyuv2::report_table(report_runs); });
      fmt::print("{}", table);
      if (!report_out.empty()) gn::app::write_atomically(report_out, table);
      return 0;
    }
  } catch (const BadInput& err) {
    fmt::print(stderr, "gradnorm-nyuv2: error: {}\n", err.what());
    return 2;
  } catch (const std::exception& err) {
    fmt::print(stderr, "gradnorm-nyuv2: error: {}\n", err.what());
    return 1;
  }
  return 2;
}

int main(int argc, char** argv) { return gn::app::mpi_main(argc, argv, "gradnorm-nyuv2", run); }
