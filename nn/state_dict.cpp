#include "nn/state_dict.h"

#include <unordered_map>

namespace gn::nn {
namespace {

// A hopelessly wrong checkpoint would otherwise produce a message as long as the model.
constexpr std::size_t kMaxListed = 8;

std::string describe(const Tensor& t) { return fmt::format("{} {}", dtype_name(t.dtype()), to_string(t.shape())); }

}  // namespace

StateMatch match_state(const StateDict& given, const StateDict& expected, std::string_view who, bool strict) {
  std::vector<std::string> problems;
  std::unordered_map<std::string_view, std::size_t> index;  // name -> position in `given`
  for (std::size_t i = 0; i < given.size(); ++i) {
    const auto& [name, t] = given[i];
    if (!index.emplace(name, i).second) problems.push_back(fmt::format("entry '{}' appears more than once", name));
    if (!t.defined()) problems.push_back(fmt::format("entry '{}' is an undefined tensor", name));
  }
  StateMatch match;
  std::vector<bool> used(given.size(), false);
  for (const auto& [name, want] : expected) {
    const auto it = index.find(name);
    if (it == index.end()) {
      if (strict) problems.push_back(fmt::format("missing entry '{}' ({})", name, describe(want)));
      match.report.missing.push_back(name);
      match.sources.emplace_back();
      continue;
    }
    used[it->second] = true;
    const Tensor& got = given[it->second].second;
    match.sources.push_back(got);
    if (!got.defined()) continue;  // already reported
    if (got.shape() != want.shape())
      problems.push_back(
          fmt::format("entry '{}' has shape {}, expected {}", name, to_string(got.shape()), to_string(want.shape())));
    if (got.dtype() != want.dtype())
      problems.push_back(
          fmt::format("entry '{}' has dtype {}, expected {}", name, dtype_name(got.dtype()), dtype_name(want.dtype())));
  }
  for (std::size_t i = 0; i < given.size(); ++i) {
    if (used[i] || index.at(given[i].first) != i) continue;  // a duplicate was reported above
    if (strict)
      problems.push_back(fmt::format("unexpected entry '{}' ({})", given[i].first, describe(given[i].second)));
    match.report.unexpected.push_back(given[i].first);
  }
  if (!problems.empty()) {
    std::string list;
    for (std::size_t i = 0; i < problems.size() && i < kMaxListed; ++i) list += (i ? "; " : "") + problems[i];
    if (problems.size() > kMaxListed) list += fmt::format("; and {} more", problems.size() - kMaxListed);
    GN_FAIL("{}: load_state_dict: nothing loaded: {}", who, list);
  }
  return match;
}

void copy_state(Tensor& dst, const Tensor& src) {
  if (dst.device() == src.device() && dst.raw_data() == src.raw_data()) return;  // memcpy onto itself is undefined
  dst.copy_(src);
}

Tensor state_scalar(double value) { return Tensor::scalar(value, DType::Float64); }
Tensor state_count(std::int64_t value) {
  Tensor t = Tensor::empty({}, DType::Int64);
  *t.data<std::int64_t>() = value;  // exact: fill_ would pass through a double
  return t;
}

double read_scalar(const Tensor& t) { return t.item(); }
std::int64_t read_count(const Tensor& t) {
  GN_CHECK(t.numel() == 1 && t.dtype() == DType::Int64, "read_count: expects one int64, got {}", describe(t));
  return *t.to(cpu_device()).data<std::int64_t>();
}

StateDict with_prefix(StateDict state, std::string_view prefix) {
  for (auto& [name, t] : state) name.insert(0, prefix);
  return state;
}

StateDict strip_prefix(const StateDict& state, std::string_view prefix) {
  StateDict out;
  for (const auto& [name, t] : state) {
    if (name.starts_with(prefix)) out.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

}  // namespace gn::nn
