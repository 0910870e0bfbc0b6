#include "apps/gridsearch/sweep_math.h"

#include <cmath>
#include <cstdlib>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"

namespace gn::sweep {

std::vector<double> random_static_weights(int tasks, std::uint64_t seed, std::int64_t k) {
  GN_CHECK(tasks >= 1 && k >= 0, "random_static_weights: tasks {} must be >= 1 and k {} >= 0", tasks, k);
  // The golden-ratio increment keeps (seed, k) and (seed + 1, k - 1) apart; Generator splitmixes it.
  Generator gen(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(k));
  std::vector<double> w(static_cast<std::size_t>(tasks));
  for (double& v : w) v = gen.uniform();
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  // sum == 0 needs every draw to be exactly 0 (probability 2^-53 per task): fall back to equal weights.
  for (double& v : w) v = sum > 0 ? v * tasks / sum : 1.0;
  return w;
}

double l2_distance(std::span<const double> a, std::span<const double> b) {
  GN_CHECK(a.size() == b.size(), "l2_distance: {} and {} numbers", a.size(), b.size());
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s);
}

double mean_relative_change_pct(std::span<const double> errors, std::span<const double> reference) {
  GN_CHECK(!errors.empty() && errors.size() == reference.size(),
           "mean_relative_change_pct: {} errors against {} reference errors", errors.size(), reference.size());
  double s = 0;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    GN_CHECK(reference[i] > 0 && std::isfinite(reference[i]) && std::isfinite(errors[i]),
             "mean_relative_change_pct: task {}: error {} against reference {} (the reference must be finite and > 0)",
             i, errors[i], reference[i]);
    s += (errors[i] - reference[i]) / reference[i];
  }
  return 100.0 * s / static_cast<double>(errors.size());
}

double pearson(std::span<const double> x, std::span<const double> y) {
  GN_CHECK(x.size() == y.size() && x.size() >= 2, "pearson: needs two series of equal length >= 2, got {} and {}",
           x.size(), y.size());
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  GN_CHECK(sxx > 0 && syy > 0, "pearson: a series is constant, the correlation is undefined");
  return sxy / std::sqrt(sxx * syy);
}

MeanSd mean_sd(std::span<const double> values) {
  GN_CHECK(!values.empty(), "mean_sd: no values");
  const double n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return {mean, values.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0};
}

std::vector<double> parse_number_list(const std::string& text, const char* what) {
  std::vector<double> out;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = text.find(',', begin);
    const std::string item = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    char* stop = nullptr;
    const double v = item.empty() ? 0 : std::strtod(item.c_str(), &stop);
    GN_CHECK(!item.empty() && stop == item.c_str() + item.size() && std::isfinite(v),
             "{}: '{}' is not a finite number (in '{}')", what, item, text);
    out.push_back(v);
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

}  // namespace gn::sweep
