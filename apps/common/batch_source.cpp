#include "apps/common/batch_source.h"

#include <algorithm>

#include "core/error.h"

namespace gn::app {

std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t batch, int rank, int world) {
  GN_CHECK(world >= 1 && rank >= 0 && rank < world, "shard_range: rank {} is not in a world of {}", rank, world);
  const std::int64_t base = batch / world, extra = batch % world;
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

Dataset Dataset::to(Device device) const {
  Dataset out{x.to(device), {}};
  for (const auto& t : targets) out.targets.push_back(t.to(device));
  return out;
}

Batch Dataset::slice(std::int64_t begin, std::int64_t end) const {
  Batch b{x.slice(begin, end), {}};
  b.targets.reserve(targets.size());
  for (const auto& t : targets) b.targets.push_back(t.slice(begin, end));
  return b;
}

void Dataset::check(const char* what) const {
  GN_CHECK(x.defined() && x.dim() >= 1 && x.shape()[0] > 0, "{}: the inputs x must hold at least one sample", what);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    GN_CHECK(targets[i].defined() && targets[i].dim() >= 1 && targets[i].shape()[0] == x.shape()[0],
             "{}: task {}'s targets must have {} rows, like x", what, i, x.shape()[0]);
    GN_CHECK(targets[i].device() == x.device(), "{}: task {}'s targets are not on x's device", what, i);
  }
}

nn::StateDict BatchSource::state_dict() const {
  GN_FAIL("this batch source cannot save its position (no state_dict): checkpoints need one that can");
}

void BatchSource::load_state_dict(const nn::StateDict&) {
  GN_FAIL("this batch source cannot restore its position (no load_state_dict): checkpoints need one that can");
}

}  // namespace gn::app
