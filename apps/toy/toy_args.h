#pragma once
// gradnorm-toy's command line: parsing and validation of argv into ToyOptions, without training, threads or
// files, so that it can be tested and fuzzed (fuzz/toy_args.cpp). main.cpp then applies the side effects
// (thread count, --out directory) and trains.
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "apps/toy/experiment.h"
#include "core/device.h"

namespace gn::toy {

// Caps that keep every size computation far from overflow and every allocation plausible: a sample is
// 250 inputs and T targets of 100 values; generating 2M samples takes ~4 GB of doubles.
constexpr std::int64_t kMaxSamples = 2'000'000;
constexpr std::int64_t kMaxSteps = 1'000'000'000;

struct ToyOptions {
  int tasks = 2;
  std::vector<double> sigmas;  // T values (the defaults for T when --sigmas is not given)
  std::vector<std::string> methods{"equal", "gradnorm", "uncertainty"};
  ToyRunConfig run;    // steps, batch, lr, weighting (initial_loss parsed), ...; seeds and device not yet set
  ToyDataConfig data;  // sizes and input_std; sigmas and seed not yet set
  std::uint64_t seed = 1;
  int threads = 1;
  std::string device_spec = "auto";
  Device device = cpu_device();  // parse_device(device_spec)
  std::string out_dir;           // --out, or runs/toy_T<T>; not created here
  std::string initial_loss = "first-step";
  std::string norm_params = "weight+bias";  // --norm-params: run.weighting.gradnorm.norm_weight_only once parsed
  std::string comm = "auto";                // --comm: auto | single | mpi (core/communicator.h)
  bool quiet = false, resume = false;
};

struct ToyArgs {
  std::optional<ToyOptions> options;  // empty: CLI11 handled the command line (--help, a parse error)
  int exit_code = 0;                  // then the process's exit status (0 for --help)
};

// Parses and validates gradnorm-toy's arguments. CLI11's own outcomes (--help, an unknown option, a value its
// checks refuse) are printed to out/err exactly as CLI11's App::exit does and returned as an exit code;
// settings that only make sense together (--sigmas vs --tasks, --methods, --initial-loss, --device, ...) throw
// a gn::Error. No files, threads or training: --out is only defaulted, not checked.
ToyArgs parse_toy_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace gn::toy
