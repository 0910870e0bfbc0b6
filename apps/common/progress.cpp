#include "apps/common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace gn::app {

Progress::Progress(std::string label)
    : label_(std::move(label)), start_(std::chrono::steady_clock::now()), tty_(isatty(STDERR_FILENO) != 0) {}

void Progress::update(std::int64_t done, std::int64_t total) {
  const double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
  const int decile = static_cast<int>(frac * 10);
  if (!tty_ && decile == last_decile_ && done != total) return;
  last_decile_ = decile;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  fmt::print(stderr, "{}{:<22} [{}] {:3.0f}%  {}/{}  {:.1f}s elapsed, ETA {:.1f}s{}", tty_ ? "\r" : "", label_, bar,
             frac * 100, done, total, elapsed, eta, tty_ && done != total ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace gn::app
