#include "core/allocator.h"

#include <cstdlib>
#include <limits>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace gn {
namespace {

constexpr std::size_t kAlign = 64;  // a cache line; also what AVX-512 loads like
std::size_t round_up(std::size_t n) {
  GN_CHECK(n <= std::numeric_limits<std::size_t>::max() - kAlign, "allocator: {} bytes cannot be allocated", n);
  return (n + kAlign - 1) / kAlign * kAlign;
}

class CachingAllocator {
 public:
  CachingAllocator(void* (*sys_alloc)(std::size_t), void (*sys_free)(void*))
      : sys_alloc_(sys_alloc), sys_free_(sys_free) {}
  ~CachingAllocator() { release_all(); }

  void* allocate(std::size_t bytes) {
    const std::size_t size = round_up(std::max<std::size_t>(bytes, 1));
    std::lock_guard lock(mu_);
    if (auto it = free_.find(size); it != free_.end() && !it->second.empty()) {
      stats_.bytes_in_use += size;
      void* p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
      ++stats_.cache_hits;
      return p;
    }
    void* p = sys_alloc_(size);  // may throw (out of memory): then nothing was taken
    ++stats_.system_allocs;
    stats_.bytes_in_use += size;
    return p;
  }

  void deallocate(void* p, std::size_t bytes) {
    const std::size_t size = round_up(std::max<std::size_t>(bytes, 1));
    std::lock_guard lock(mu_);
    stats_.bytes_in_use -= size;
    stats_.bytes_cached += size;
    free_[size].push_back(p);
  }

  AllocatorStats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }

  void release_all() {
    std::lock_guard lock(mu_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) sys_free_(p);
    free_.clear();
    stats_.bytes_cached = 0;
  }

 private:
  void* (*sys_alloc_)(std::size_t);
  void (*sys_free_)(void*);
  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

void* cpu_sys_alloc(std::size_t size) {
  void* p = std::aligned_alloc(kAlign, size);
  GN_CHECK(p != nullptr, "out of memory: cannot allocate {} bytes ({:.3g} GiB) on the CPU", size,
           static_cast<double>(size) / (1 << 30));
  return p;
}

CachingAllocator& cpu_allocator() {
  static CachingAllocator a(cpu_sys_alloc, std::free);
  return a;
}

#ifdef GN_WITH_CUDA
CachingAllocator& cuda_allocator() {
  static CachingAllocator a(cuda::device_malloc, cuda::device_free);
  return a;
}
#endif

CachingAllocator& allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
#ifdef GN_WITH_CUDA
  GN_CHECK(cuda_available(), "cannot allocate on {}: {}", to_string(d), cuda_unavailable_reason());
  return cuda_allocator();
#else
  GN_FAIL("cannot allocate on {}: {}", to_string(d), cuda_unavailable_reason());
#endif
}

}  // namespace

void* device_allocate(std::size_t bytes, Device d) { return allocator_for(d).allocate(bytes); }
void device_deallocate(void* p, std::size_t bytes, Device d) { allocator_for(d).deallocate(p, bytes); }
AllocatorStats allocator_stats(Device d) { return allocator_for(d).stats(); }
void empty_cache(Device d) { allocator_for(d).release_all(); }

}  // namespace gn
