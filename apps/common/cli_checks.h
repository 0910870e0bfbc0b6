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

// CLI11 splits a delimited list option ("--sigmas 1,10,100") and silently drops empty items, so "1,,100"
// would be read as "1,100". Call after parsing: throws CLI::ValidationError naming the option when any list
// option of `app` or its subcommands (those with a delimiter) was given an empty item ("a,,b", "a,", ",b",
// ""), in the "--name value" or "--name=value" form. Arguments after "--" are not the app's and are skipped.
void refuse_empty_list_items(const CLI::App& app, int argc, const char* const* argv);

}  // namespace gn::app
