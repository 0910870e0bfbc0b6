#pragma once
#include <string>

namespace gn {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device&) const = default;
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
};

inline Device cpu_device() { return {}; }
inline Device cuda_device(int index = 0) { return {DeviceType::CUDA, index}; }
std::string to_string(Device d);

// True when this build has the CUDA backend and a device answers. Never throws.
bool cuda_available();
// One line saying why CUDA is not usable ("built without CUDA", "no CUDA device: ..."); empty if it is.
std::string cuda_unavailable_reason();
// Parses "auto" | "cpu" | "cuda" | "cuda:N"; "auto" picks CUDA when available. Throws on bad input or
// when "cuda" is asked for and unavailable.
Device parse_device(const std::string& spec);
// Waits until the device has finished all queued work (a no-op on the CPU). For timers and logging.
void synchronize(Device d);

}  // namespace gn
