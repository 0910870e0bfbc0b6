#pragma once
// The safetensors format (https://github.com/huggingface/safetensors), for checkpoints any tool can read:
//   8 bytes: N, the header's length, little-endian unsigned
//   N bytes: a JSON object {"<name>": {"dtype": "F32"|"F64"|"I64", "shape": [...], "data_offsets": [b, e]},
//            ..., "__metadata__": {"<key>": "<string>", ...}}, padded with spaces to a multiple of 8
//   then the tensors' raw little-endian bytes, tensor k in [b_k, e_k) of this buffer, contiguous and
//   non-overlapping, covering the whole buffer.
// The writer stores a StateDict in its order (the reader returns it in the same order, by data offset) and
// writes atomically. The reader checks everything before building anything and refuses a bad file with one
// gn::Error naming the file and the problem: it never returns half-read data.
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nn/state_dict.h"

namespace gn::nn {

using Metadata = std::vector<std::pair<std::string, std::string>>;  // "__metadata__", in order

struct SafetensorsFile {
  StateDict tensors;  // on the CPU, in the file's data order
  Metadata metadata;  // sorted by key (JSON objects are unordered)

  // The metadata value for `key`, or nullptr.
  const std::string* find(std::string_view key) const;
};

// The file's bytes. Tensors may live on any device (copied to the host); names are unique, non-empty and
// not "__metadata__"; dtypes F32, F64, I64. Throws a gn::Error naming the bad entry.
std::string encode_safetensors(const StateDict& tensors, const Metadata& metadata = {});
// Parses `bytes`; `source` (the file name) starts every error message.
SafetensorsFile decode_safetensors(std::string_view bytes, std::string_view source);

// Writes encode_safetensors(...) to `path` atomically: PATH.tmp, fsync, rename over PATH, fsync of the
// directory. On failure throws naming the path and strerror, and leaves no .tmp behind.
void save_safetensors(const std::filesystem::path& path, const StateDict& tensors, const Metadata& metadata = {});
// Reads and decodes `path`; errors name the path.
SafetensorsFile load_safetensors(const std::filesystem::path& path);

// Writes `bytes` to `path` through PATH.tmp + fsync + rename + fsync of the directory (the helper above uses).
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace gn::nn
