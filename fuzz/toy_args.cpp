// libFuzzer target: gradnorm-toy's command line (apps/toy/toy_args.h, parse_toy_args), without training. The
// input is split into argv tokens at NUL bytes and newlines (at most 64 tokens of at most 256 bytes; argv[0]
// is "gradnorm-toy"). parse_toy_args writes no files (--out is only defaulted; main creates it later), sets no
// threads and starts no training; CLI11's help and messages go to a stream without a buffer (discarded).
// Accepted outcomes: options, a CLI11 exit code (--help, a refused value), or a gn::Error. Any other exception,
// a crash or a sanitizer report is a bug. Accepted options must satisfy what the validation promises (checked
// below; a failure traps).
#include "apps/toy/toy_args.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "multitask/strategies.h"

namespace {

constexpr std::size_t kMaxTokens = 64, kMaxTokenLength = 256;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_options(const gn::toy::ToyOptions& o) {
  check(o.tasks >= 1 && o.tasks <= 64);
  check(static_cast<int>(o.sigmas.size()) == o.tasks);
  for (double s : o.sigmas) check(std::isfinite(s) && s > 0);
  check(!o.methods.empty());
  const auto& known = gn::multitask::weighting_names();
  std::set<std::string> seen;
  for (const auto& m : o.methods) {
    check(std::find(known.begin(), known.end(), m) != known.end());
    check(seen.insert(m).second);
  }
  if (seen.contains("static")) check(static_cast<int>(o.run.weighting.static_weights.size()) == o.tasks);
  check(o.run.steps >= 1 && o.run.steps <= gn::toy::kMaxSteps);
  check(o.run.batch >= 1 && o.run.batch <= o.data.train_size && o.data.train_size <= gn::toy::kMaxSamples);
  check(o.data.test_size >= 1 && o.data.test_size <= gn::toy::kMaxSamples);
  check(std::isfinite(o.run.lr) && o.run.lr > 0);
  check(o.threads >= 1 && o.threads <= 256);
  check(o.run.log_every >= 1);
  check(!o.out_dir.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> tokens{"gradnorm-toy"};
  std::string token;
  bool too_many = false;
  for (std::size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == '\0' || data[i] == '\n') {
      if (i < size || !token.empty()) tokens.push_back(token);
      token.clear();
      if (tokens.size() > kMaxTokens) {
        too_many = true;
        break;
      }
    } else if (token.size() < kMaxTokenLength) {
      token.push_back(static_cast<char>(data[i]));
    }
  }
  if (too_many) return 0;
  std::vector<const char*> argv;
  for (const auto& t : tokens) argv.push_back(t.c_str());
  std::ostream discard(nullptr);  // no buffer: every write only sets badbit
  try {
    const gn::toy::ToyArgs args = gn::toy::parse_toy_args(static_cast<int>(argv.size()), argv.data(), discard, discard);
    if (args.options) check_options(*args.options);
  } catch (const gn::Error&) {
  }
  return 0;
}
