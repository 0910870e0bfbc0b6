#pragma once
// The CUDA runtime calls core/ needs (device query, memory), behind a plain C++ header so core/ compiles
// without CUDA headers. Every call is checked; failures throw gn::Error naming the call, file and line.
#include <cstddef>
#include <string>

namespace gn::cuda {

// Empty when a CUDA device answers; otherwise one line saying why not (no driver, no device, ...).
std::string unavailable_reason();
void* device_malloc(std::size_t bytes);
void device_free(void* p);
void memcpy_host_to_device(void* dst, const void* src, std::size_t bytes);
void memcpy_device_to_host(void* dst, const void* src, std::size_t bytes);
void memcpy_device_to_device(void* dst, const void* src, std::size_t bytes);
void synchronize();

}  // namespace gn::cuda
