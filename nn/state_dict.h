#pragma once
// StateDict: the state of a module, optimizer or schedule as an ordered list of (dotted name, tensor), the
// unit a checkpoint stores. Loading looks entries up by name, never by position, so a file format may reorder
// them; one file can hold several objects' state under prefixes ("model.", "optimizer.", "schedule.").
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace gn::nn {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict left out when not strict (always empty when strict: those are errors).
struct LoadReport {
  std::vector<std::string> missing;     // expected entries that `given` lacked (left unchanged)
  std::vector<std::string> unexpected;  // given entries that matched nothing (ignored)
};

struct StateMatch {
  std::vector<Tensor> sources;  // the given tensor for each expected entry, in expected's order; undefined if missing
  LoadReport report;
};

// Matches `given` to `expected` by name. Throws one gn::Error, prefixed by `who`, naming every bad entry: a
// duplicate or undefined given entry, a shape or dtype differing from the expected one and, when `strict`, a
// missing or an unexpected entry. Devices may differ (loading copies across them).
StateMatch match_state(const StateDict& given, const StateDict& expected, std::string_view who, bool strict = true);

// Copies `src` into `dst` in place (any devices); a no-op when both already are the same memory.
void copy_state(Tensor& dst, const Tensor& src);

// Plain numbers (learning rate, step counts) as 0-d CPU tensors, and back. The readers take any device.
Tensor state_scalar(double value);       // float64
Tensor state_count(std::int64_t value);  // int64
double read_scalar(const Tensor& t);
std::int64_t read_count(const Tensor& t);

// `state` with every name prefixed by `prefix` (e.g. "model."), for combining several objects into one file.
StateDict with_prefix(StateDict state, std::string_view prefix);
// The entries whose name starts with `prefix`, with the prefix removed.
StateDict strip_prefix(const StateDict& state, std::string_view prefix);

}  // namespace gn::nn
