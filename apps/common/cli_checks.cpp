#include "apps/common/cli_checks.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

namespace {

// "--name" -> delimiter, for every delimited option of app and its subcommands.
void list_options(const CLI::App& app, std::vector<std::pair<std::string, char>>& out) {
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_delimiter() == '\0') continue;
    for (const std::string& name : o->get_lnames()) out.emplace_back("--" + name, o->get_delimiter());
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) list_options(*sub, out);
}

bool has_empty_item(std::string_view value, char delimiter) {
  std::size_t start = 0;
  while (true) {
    const std::size_t next = value.find(delimiter, start);
    const std::size_t end = next == std::string_view::npos ? value.size() : next;
    if (end == start) return true;
    if (next == std::string_view::npos) return false;
    start = next + 1;
  }
}

}  // namespace

void refuse_empty_list_items(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::pair<std::string, char>> lists;
  list_options(app, lists);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return;
    for (const auto& [name, delimiter] : lists) {
      std::string_view value;
      if (arg == name && i + 1 < argc)
        value = argv[i + 1];
      else if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=')
        value = arg.substr(name.size() + 1);
      else
        continue;
      if (has_empty_item(value, delimiter))
        throw CLI::ValidationError(name, fmt::format("'{}' has an empty item (expected values separated by single "
                                                     "'{}', none empty)",
                                                     value, delimiter));
    }
  }
}

}  // namespace gn::app
