// libFuzzer target: multitask::InitialLoss::parse ("first-step", "mean-of-first:K", "given:v1,v2,...") on
// arbitrary text. A gn::Error is the accepted refusal; anything else is a bug. What parses must describe
// itself, and a given list must hold only finite positive values (the contract of InitialLoss::given).
#include "multitask/initial_loss.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  try {
    const gn::multitask::InitialLoss l = gn::multitask::InitialLoss::parse(spec);
    (void)l.describe();
    using Mode = gn::multitask::InitialLoss::Mode;
    if (l.mode() == Mode::MeanOfFirst && l.steps() < 1) __builtin_trap();
    if (l.mode() == Mode::Given) {
      if (l.values().empty()) __builtin_trap();
      for (double v : l.values())
        if (!std::isfinite(v) || v <= 0) __builtin_trap();
    }
  } catch (const gn::Error&) {
  }
  return 0;
}
