#pragma once
// CPU threading. Elementwise kernels split work with OpenMP's static schedule and reductions sum fixed
// blocks in a fixed order, so a result never depends on timing; Eigen's GEMM threads over output tiles.
namespace gn::cpu {

void set_num_threads(int n);  // n >= 1; sets OpenMP's and Eigen's thread count
int num_threads();

// Below this many elements an elementwise kernel runs on one thread: forking costs more than it saves.
inline constexpr long kParallelGrain = 1 << 15;

}  // namespace gn::cpu
