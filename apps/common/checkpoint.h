#pragma once
// Checkpoint files of a training run: DIR/ckpt-<step>.safetensors (nn/safetensors.h), written atomically,
// the last K kept. What goes in them is the Trainer's business (Trainer::state_dict: "model.", "optimizer.",
// "schedule.", "weighting.", "step.", "data.", "trainer.", "app."); here: names, listing, pruning, the
// format tag, and the stop flag that SIGINT/SIGTERM set so a run can checkpoint and exit cleanly.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "nn/safetensors.h"

namespace gn::app {

// The "format" metadata of every checkpoint; a file without it (or with another) is refused.
inline constexpr std::string_view kCheckpointFormat = "gradnorm-checkpoint-1";

// DIR/ckpt-<step>.safetensors
std::filesystem::path checkpoint_path(const std::filesystem::path& dir, std::int64_t step);
// The checkpoints in `dir` as (step, path), by step; none when the directory does not exist. Files that do
// not match ckpt-<digits>.safetensors (e.g. a .tmp left by a crash) are ignored.
std::vector<std::pair<std::int64_t, std::filesystem::path>> list_checkpoints(const std::filesystem::path& dir);
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& dir);
// Removes all but the `keep` latest checkpoints (keep >= 1).
void prune_checkpoints(const std::filesystem::path& dir, int keep);

// Writes `state` with `metadata` plus format = kCheckpointFormat and data_checksum (FNV-1a 64 of the tensor
// bytes in order, hex), atomically (creates `path`'s directory).
void save_checkpoint(const std::filesystem::path& path, const nn::StateDict& state, nn::Metadata metadata);
// Reads and validates a checkpoint (the whole file, its format tag, the data checksum); throws naming the file.
nn::SafetensorsFile load_checkpoint(const std::filesystem::path& path);

// SIGINT and SIGTERM set a flag instead of killing the process (a second signal kills it as usual). The
// trainer checks it after every step: with checkpoints on, it writes one and stops (TrainSummary::stopped).
void install_stop_handlers();
bool stop_requested();
int stop_signal();          // the signal that set the flag, 0 if none
void clear_stop_request();  // for tests

}  // namespace gn::app
