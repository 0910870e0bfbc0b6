#pragma once
// Seeded random numbers that are the same on every run, compiler and standard library: xoshiro256**
// seeded through splitmix64, uniform doubles from the top 53 bits, normals by Box-Muller. (std::
// distributions are implementation-defined, so they are not used.)
#include <array>
#include <cstdint>

namespace gn {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(std::uint64_t seed);
  std::uint64_t next_u64();
  double uniform();  // [0, 1)
  double normal();   // N(0, 1)
  // A fresh generator whose stream is independent of this one's (for one component of a program).
  Generator fork();

  // The whole state (the 4 xoshiro words and the Box-Muller spare), for checkpoints: a generator given
  // another's state() continues its stream exactly. set_state refuses all-zero words (not a xoshiro state).
  struct State {
    std::array<std::uint64_t, 4> words{};
    bool has_spare = false;
    double spare = 0;
  };
  State state() const { return {s_, has_spare_, spare_}; }
  void set_state(const State& state);

 private:
  std::array<std::uint64_t, 4> s_{};
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace gn
