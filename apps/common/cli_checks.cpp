#include "apps/common/cli_checks.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace gn::app {
namespace {

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// The whole string as an integer, or an error message.
std::string parse_int(const std::string& s, std::int64_t& out) {
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  if (ec == std::errc::result_out_of_range) return s + " does not fit a 64-bit integer";
  if (ec != std::errc() || ptr != end) return in_quotes(s) + " is not an integer";
  return {};
}

// The whole string as a finite double, or an error message.
std::string parse_finite(const std::string& s, double& out) {
  if (s.empty()) return "'' is not a number";
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return in_quotes(s) + " is not a number";
  if (errno == ERANGE && std::isinf(out)) return s + " is too large";
  if (!std::isfinite(out)) return s + " is not a finite number";
  return {};
}

}  // namespace

CLI::Validator int_in(std::int64_t lo, std::int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        std::int64_t v = 0;
        if (std::string e = parse_int(s, v); !e.empty()) return e;
        if (v < lo || v > hi) return fmt::format("{} is not in [{}, {}]", v, lo, hi);
        return {};
      },
      fmt::format("INT in [{}, {}]", lo, hi));
}

CLI::Validator unsigned_int() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::uint64_t v = 0;
        const char* end = s.data() + s.size();
        const auto [ptr, ec] = std::from_chars(s.data(), end, v);
        if (!s.empty() && s[0] == '-') return s + " is negative: expected an integer >= 0";
        if (ec == std::errc::result_out_of_range) return s + " does not fit 64 bits";
        if (ec != std::errc() || ptr != end) return in_quotes(s) + " is not a non-negative integer";
        return {};
      },
      "UINT");
}

CLI::Validator finite_in(double lo, double hi, bool lo_open) {
  return CLI::Validator(
      [lo, hi, lo_open](std::string& s) -> std::string {
        double v = 0;
        if (std::string e = parse_finite(s, v); !e.empty()) return e;
        if ((lo_open ? v <= lo : v < lo) || v > hi)
          return fmt::format("{} is not in {}{:g}, {:g}]", s, lo_open ? "(" : "[", lo, hi);
        return {};
      },
      fmt::format("NUMBER in {}{:g}, {:g}]", lo_open ? "(" : "[", lo, hi));
}

CLI::Validator finite_positive() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        if (std::string e = parse_finite(s, v); !e.empty()) return e;
        if (v <= 0) return s + " is not > 0";
        return {};
      },
      "NUMBER > 0");
}

}  // namespace gn::app
