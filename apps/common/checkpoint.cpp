#include "apps/common/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <string>

#include "core/error.h"

namespace gn::app {
namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  std::signal(sig, SIG_DFL);  // a second signal ends the process as usual
}

// The step of "ckpt-<digits>.safetensors", or -1.
std::int64_t step_of(const std::string& name) {
  constexpr std::string_view head = "ckpt-", tail = ".safetensors";
  if (name.size() <= head.size() + tail.size() || !name.starts_with(head) || !name.ends_with(tail)) return -1;
  const std::string digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

// FNV-1a 64 over every tensor's bytes, in order: the format checks the layout, this the data.
std::string data_checksum(const nn::StateDict& state) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& [name, t] : state) {
    const Tensor host = t.device().is_cpu() ? t : t.to(cpu_device());
    const auto* p = static_cast<const unsigned char*>(host.raw_data());
    for (std::size_t i = 0, n = host.nbytes(); i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace

fs::path checkpoint_path(const fs::path& dir, std::int64_t step) {
  return dir / fmt::format("ckpt-{}.safetensors", step);
}

std::vector<std::pair<std::int64_t, fs::path>> list_checkpoints(const fs::path& dir) {
  std::vector<std::pair<std::int64_t, fs::path>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::int64_t step = step_of(entry.path().filename().string());
    if (step >= 0 && entry.is_regular_file(ec)) out.emplace_back(step, entry.path());
  }
  if (ec) GN_FAIL("cannot list the checkpoints in {}: {}", dir.string(), ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<fs::path> latest_checkpoint(const fs::path& dir) {
  const auto all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

void prune_checkpoints(const fs::path& dir, int keep) {
  GN_CHECK(keep >= 1, "prune_checkpoints: keep must be >= 1, got {}", keep);
  const auto all = list_checkpoints(dir);
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i].second, ec);
    if (ec) GN_FAIL("cannot remove the old checkpoint {}: {}", all[i].second.string(), ec.message());
  }
}

void save_checkpoint(const fs::path& path, const nn::StateDict& state, nn::Metadata metadata) {
  std::erase_if(metadata, [](const auto& kv) { return kv.first == "format" || kv.first == "data_checksum"; });
  metadata.emplace(metadata.begin(), "format", std::string(kCheckpointFormat));
  metadata.emplace_back("data_checksum", data_checksum(state));
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) GN_FAIL("cannot create the checkpoint directory {}: {}", path.parent_path().string(), ec.message());
  }
  nn::save_safetensors(path, state, metadata);
}

nn::SafetensorsFile load_checkpoint(const fs::path& path) {
  nn::SafetensorsFile file = nn::load_safetensors(path);
  const std::string* format = file.find("format");
  GN_CHECK(format != nullptr && *format == kCheckpointFormat,
           "checkpoint {}: not a gradnorm checkpoint (metadata format is {}, expected '{}')", path.string(),
           format ? fmt::format("'{}'", *format) : std::string("missing"), kCheckpointFormat);
  const std::string* sum = file.find("data_checksum");
  GN_CHECK(sum != nullptr, "checkpoint {}: no data_checksum in its metadata", path.string());
  const std::string actual = data_checksum(file.tensors);
  GN_CHECK(*sum == actual, "checkpoint {}: the tensor data is corrupted (checksum {}, the metadata says {})",
           path.string(), actual, *sum);
  return file;
}

void install_stop_handlers() {
  g_stop_signal = 0;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

bool stop_requested() { return g_stop_signal != 0; }
int stop_signal() { return static_cast<int>(g_stop_signal); }
void clear_stop_request() { g_stop_signal = 0; }

}  // namespace gn::app
