#pragma once
// Errors are exceptions: library code throws, only main() turns them into an exit code.
// Lives in kernels/ (the bottom layer) so kernels can throw too; core/error.h re-exports it.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace gn {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace gn

// GN_CHECK(cond, "fmt {}", args...): throws gn::Error with the formatted message when cond is false.
#define GN_CHECK(cond, ...)                        \
  do {                                             \
    if (!(cond)) [[unlikely]]                      \
      throw ::gn::Error(fmt::format(__VA_ARGS__)); \
  } while (0)

#define GN_FAIL(...) throw ::gn::Error(fmt::format(__VA_ARGS__))
