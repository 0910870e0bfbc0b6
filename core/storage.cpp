#include "core/storage.h"

#include "core/allocator.h"

namespace gn {

Storage::Storage(std::size_t bytes, Device device)
    : data_(device_allocate(bytes, device)), bytes_(bytes), device_(device) {}

Storage::~Storage() { device_deallocate(data_, bytes_, device_); }

}  // namespace gn
