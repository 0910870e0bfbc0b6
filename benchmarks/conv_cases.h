#pragma once
// The convolution benchmarks' cases, shared by bench_conv_cpu and bench_conv_cuda (and mirrored by
// conv_torch.py): 3x3, stride 1, padding 1, C_in = C_out, at SegNet's VGG-style sizes.
#include <cstdint>

namespace gn::bench {

struct ConvCase {
  std::int64_t channels, size;
};
inline constexpr ConvCase kConvCases[] = {{64, 160}, {128, 80}, {256, 40}, {512, 20}};

// 2 B C_out C_in kH kW H_out W_out: one forward's FLOPs (a multiply-add counted as 2).
inline double conv_forward_flops(const ConvCase& c, std::int64_t batch) {
  return 2.0 * batch * c.channels * c.channels * 9 * c.size * c.size;
}

}  // namespace gn::bench
