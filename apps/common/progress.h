#pragma once
// A one-line progress bar with ETA on stderr; on a non-terminal (CI logs) it prints a line every 10%.
#include <chrono>
#include <cstdint>
#include <string>

namespace gn::app {

class Progress {
 public:
  explicit Progress(std::string label);
  void update(std::int64_t done, std::int64_t total);

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  bool tty_;
  int last_decile_ = -1;
};

}  // namespace gn::app
