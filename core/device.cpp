#include "core/device.h"

#include "core/error.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace gn {

std::string to_string(Device d) { return d.is_cpu() ? "cpu" : "cuda:" + std::to_string(d.index); }

std::string cuda_unavailable_reason() {
#ifdef GN_WITH_CUDA
  static const std::string reason = cuda::unavailable_reason();  // asked once: the answer cannot change
  return reason;
#else
  return "this build has no CUDA backend (nvcc was not found at configure time)";
#endif
}

bool cuda_available() { return cuda_unavailable_reason().empty(); }

void synchronize(Device d) {
#ifdef GN_WITH_CUDA
  if (d.is_cuda()) cuda::synchronize();
#else
  GN_CHECK(d.is_cpu(), "synchronize({}): {}", to_string(d), cuda_unavailable_reason());
#endif
}

Device parse_device(const std::string& spec) {
  if (spec == "cpu") return cpu_device();
  if (spec == "auto") return cuda_available() ? cuda_device(0) : cpu_device();
  if (spec == "cuda" || spec.starts_with("cuda:")) {
    int index = 0;
    if (spec.size() > 5) {
      try {
        std::size_t used = 0;
        index = std::stoi(spec.substr(5), &used);
        GN_CHECK(used == spec.size() - 5 && index >= 0, "bad device '{}'", spec);
      } catch (const std::logic_error&) {
        GN_FAIL("bad device '{}': expected auto, cpu, cuda or cuda:N", spec);
      }
    }
    GN_CHECK(cuda_available(), "--device {}: CUDA is not available: {}", spec, cuda_unavailable_reason());
    // One device per process for now (streams, handles and the allocator follow the current device);
    // several GPUs come as several processes with the data-parallel communicator.
    GN_CHECK(index == 0, "--device {}: only cuda:0 is supported in one process", spec);
    return cuda_device(index);
  }
  GN_FAIL("bad device '{}': expected auto, cpu, cuda or cuda:N", spec);
}

}  // namespace gn
