// libFuzzer target: the safetensors reader (nn/safetensors.h) over arbitrary bytes.
// A gn::Error is the accepted way to refuse a file; anything else (another exception, a crash, a sanitizer
// report) is a bug. A file the reader accepts must survive a write/read round trip: encoding what was read
// and reading that back gives bytes that encode to exactly the same file (the writer and reader agree).
#include "nn/safetensors.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  gn::nn::SafetensorsFile file;
  try {
    file = gn::nn::decode_safetensors(bytes, "fuzz");
  } catch (const gn::Error&) {
    return 0;  // refused with a message: accepted
  }
  // Accepted: the writer must take what the reader gave, and the round trip must be stable.
  const std::string once = gn::nn::encode_safetensors(file.tensors, file.metadata);
  const gn::nn::SafetensorsFile again = gn::nn::decode_safetensors(once, "fuzz round trip");
  if (again.tensors.size() != file.tensors.size() || again.metadata != file.metadata) __builtin_trap();
  for (std::size_t i = 0; i < file.tensors.size(); ++i)
    if (again.tensors[i].first != file.tensors[i].first) __builtin_trap();
  if (gn::nn::encode_safetensors(again.tensors, again.metadata) != once) __builtin_trap();
  return 0;
}
