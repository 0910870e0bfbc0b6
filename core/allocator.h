#pragma once
// Caching allocators, one per device type. A training step allocates the same sizes every step, so
// freed blocks are kept in exact-size free lists and handed back: no malloc/cudaMalloc in the steady
// state. stats().system_allocs counts the real allocations, which tests use to prove that.
// A freed CUDA block is handed to the next request at once, with no event: safe because all work on a
// device runs in order on its one stream (the rule and its enforcement: kernels/cuda/context.h).
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace gn {

struct AllocatorStats {
  std::uint64_t system_allocs = 0;  // calls to the system allocator (malloc / cudaMalloc)
  std::uint64_t cache_hits = 0;     // allocations served from the cache
  std::size_t bytes_in_use = 0;
  std::size_t bytes_cached = 0;  // freed blocks held for reuse
};

void* device_allocate(std::size_t bytes, Device d);
void device_deallocate(void* p, std::size_t bytes, Device d);
AllocatorStats allocator_stats(Device d);
// Returns cached blocks to the system.
void empty_cache(Device d);

}  // namespace gn
