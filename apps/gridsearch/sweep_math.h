#pragma once
// The arithmetic of the paper's sweeps (Section 5.3, Fig. 4; Section 5.4, Fig. 5), kept apart from the
// process handling so tests can check it by hand.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gn::sweep {

// Network k's static weights: T draws from U(0, 1) renormalised to sum T (the paper's rule), from a
// generator seeded by (seed, k) alone, so network k gets the same weights whatever order or process
// trains it.
std::vector<double> random_static_weights(int tasks, std::uint64_t seed, std::int64_t k);

// || a - b ||_2. Sizes must match.
double l2_distance(std::span<const double> a, std::span<const double> b);

// The paper's "average change in performance across tasks" of a network against a reference, in
// percent: 100 * mean_i (errors_i - reference_i) / reference_i, for errors where lower is better, so a
// positive change means worse than the reference. Sizes must match; every reference must be > 0.
double mean_relative_change_pct(std::span<const double> errors, std::span<const double> reference);

// Pearson's correlation of x and y (at least 2 points, neither constant).
double pearson(std::span<const double> x, std::span<const double> y);

// Sample mean and standard deviation (n - 1 in the denominator; 0 for one value).
struct MeanSd {
  double mean = 0, sd = 0;
};
MeanSd mean_sd(std::span<const double> values);

// Parses "0,0.06,0.12" into numbers (each finite, none empty); throws naming the bad item.
std::vector<double> parse_number_list(const std::string& text, const char* what);

}  // namespace gn::sweep
