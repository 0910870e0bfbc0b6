// libFuzzer target: the command-line validators of apps/common/cli_checks.h (int_in, unsigned_int, finite_in,
// finite_positive) on arbitrary strings. The first byte picks the validator's bounds, the rest is the text.
// A validator answers with an empty string (accepted) or a message; it must never throw, crash or trip a
// sanitizer. A gn::Error would be accepted too (none is expected). When a number is accepted it must really
// be in range: re-checked here independently.
#include "apps/common/cli_checks.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/error.h"

namespace {

void check_int(const std::string& s, const std::string& verdict, std::int64_t lo, std::int64_t hi) {
  if (!verdict.empty()) return;
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < lo || v > hi) __builtin_trap();
}

void check_finite(const std::string& s, const std::string& verdict, double lo, double hi, bool lo_open) {
  if (!verdict.empty()) return;
  const double v = std::strtod(s.c_str(), nullptr);
  if (!std::isfinite(v) || (lo_open ? v <= lo : v < lo) || v > hi) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const unsigned pick = data[0];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr double kInf = std::numeric_limits<double>::max();
  try {
    std::string s = text;
    switch (pick % 8) {
      case 0:
        check_int(text, gn::app::int_in(1, 1000000000)(s), 1, 1000000000);
        break;
      case 1:
        check_int(text, gn::app::int_in(0, kMax)(s), 0, kMax);
        break;
      case 2:
        check_int(text, gn::app::int_in(kMin, kMax)(s), kMin, kMax);
        break;
      case 3:
        check_int(text, gn::app::int_in(-5, 5)(s), -5, 5);
        break;
      case 4: {
        const std::string verdict = gn::app::unsigned_int()(s);
        if (verdict.empty()) {
          std::uint64_t v = 0;
          const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (ec != std::errc() || ptr != text.data() + text.size()) __builtin_trap();
        }
        break;
      }
      case 5:
        check_finite(text, gn::app::finite_in(0, 1)(s), 0, 1, false);
        break;
      case 6:
        check_finite(text, gn::app::finite_in(0, kInf, true)(s), 0, kInf, true);
        break;
      default:
        check_finite(text, gn::app::finite_positive()(s), 0, kInf, true);
        break;
    }
  } catch (const gn::Error&) {
  }
  return 0;
}
