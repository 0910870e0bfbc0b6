// libFuzzer target: apps/common/npy's parse_npy on arbitrary bytes, as each conversion the NYUv2 data set asks
// for (the stored type, float32, int64). A gn::Error is the accepted refusal; anything else is a bug. What
// parses must be consistent (shape, element count, data size) and survive a write/read round trip unchanged.
#include "apps/common/npy.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  for (const gn::app::NpyConvert as :
       {gn::app::NpyConvert{}, gn::app::NpyConvert{gn::DType::Float32}, gn::app::NpyConvert{gn::DType::Int64}}) {
    try {
      const gn::app::NpyArray a = gn::app::parse_npy(bytes, "fuzz.npy", as);
      const gn::app::NpyHeader& h = a.header;
      if (a.tensor.shape() != h.shape) __builtin_trap();
      if (static_cast<std::size_t>(a.tensor.numel()) * gn::app::npy_type_size(h.type) != h.data_bytes) __builtin_trap();
      if (h.data_offset + h.data_bytes != size) __builtin_trap();
      // Round trip: our own encoding parses back to the same tensor, bit for bit.
      const std::string enc = gn::app::encode_npy(a.tensor);
      const gn::app::NpyArray b = gn::app::parse_npy(
          std::span<const std::byte>(reinterpret_cast<const std::byte*>(enc.data()), enc.size()), "round trip");
      if (b.tensor.shape() != a.tensor.shape() || b.tensor.dtype() != a.tensor.dtype() ||
          std::memcmp(b.tensor.raw_data(), a.tensor.raw_data(), a.tensor.nbytes()) != 0)
        __builtin_trap();
    } catch (const gn::Error&) {
    }
  }
  return 0;
}
