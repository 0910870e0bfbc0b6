#pragma once
// What a CUDA test does when no CUDA device answers (no driver, no device, or a build without the CUDA
// backend): GN_SKIP_WITHOUT_CUDA() skips it, visibly, with the reason. With GN_REQUIRE_CUDA=1 in the
// environment it fails instead, so a GPU machine whose driver or runtime is broken cannot pass green
// (scripts/gpu_check.sh sets it). Every CUDA test starts with it; tests/core/cuda_test_support_test.cpp
// checks the switch.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>

#include "core/device.h"

namespace gn_test {

// True when GN_REQUIRE_CUDA is set to anything but "" or "0".
inline bool cuda_required() {
  const char* v = std::getenv("GN_REQUIRE_CUDA");
  return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

}  // namespace gn_test

// Skips (or, under GN_REQUIRE_CUDA=1, fails) the current test when `missing` holds, with `reason`.
// Returns from the calling function: use it in a test body or SetUp, as GTEST_SKIP.
#define GN_SKIP_WITHOUT_CUDA_IF(missing, reason)                                       \
  do {                                                                                 \
    if (missing) {                                                                     \
      if (::gn_test::cuda_required())                                                  \
        GTEST_FAIL() << "GN_REQUIRE_CUDA=1 but CUDA is not available: " << (reason);   \
      else                                                                             \
        GTEST_SKIP() << (reason) << " (set GN_REQUIRE_CUDA=1 to make this a failure)"; \
    }                                                                                  \
  } while (0)

// The one check every CUDA test starts with.
#define GN_SKIP_WITHOUT_CUDA() GN_SKIP_WITHOUT_CUDA_IF(!::gn::cuda_available(), ::gn::cuda_unavailable_reason())
