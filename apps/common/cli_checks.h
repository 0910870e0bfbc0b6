#pragma once
// Command-line validators with messages a user can act on, shared by the apps. CLI11's own Range and
// PositiveNumber print the full 309-digit double bound and call "abc" out of range; these say what is
// wrong ("'abc' is not a number", "-5 is not in [1, 1000000000]", "nan is not a finite number") and
// refuse what would be silently misread (a negative seed wrapping to 2^64 - 1, an empty list item).
#include <CLI/CLI.hpp>
#include <cstdint>

namespace gn::app {

// An integer in [lo, hi] (no sign for lo >= 0, no fraction, no trailing text).
CLI::Validator int_in(std::int64_t lo, std::int64_t hi);
// A non-negative integer that fits 64 bits unsigned (seeds).
CLI::Validator unsigned_int();
// A finite number in [lo, hi]; with lo_open, in (lo, hi].
CLI::Validator finite_in(double lo, double hi, bool lo_open = false);
// A finite number > 0.
CLI::Validator finite_positive();

}  // namespace gn::app
