// libFuzzer target: gn::parse_device ("auto" | "cpu" | "cuda" | "cuda:N") on arbitrary text. A gn::Error is
// the accepted refusal (including "cuda" without a GPU); anything else is a bug. A parsed device has a
// non-negative index and a printable name.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/device.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  try {
    const gn::Device d = gn::parse_device(spec);
    if (d.index < 0) __builtin_trap();
    if (gn::to_string(d).empty()) __builtin_trap();
  } catch (const gn::Error&) {
  }
  return 0;
}
