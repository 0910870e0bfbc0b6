#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace gn {

// One contiguous buffer on one device, from that device's caching allocator. Shared by views.
class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  std::size_t bytes_;
  Device device_;
};

}  // namespace gn
