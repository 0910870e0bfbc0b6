// Per-layer CPU convolution times of the NYUv2 SegNet at width 0.25 (batch 8, 3x3, stride 1, padding 1,
// float32): forward, data gradient and filter gradient of each distinct layer shape, the kernels
// (kernels/cpu/conv.h) called directly. Process CPU time, best of --reps calls (on a shared machine the
// best is the steadiest figure), and GFLOP/s at 2 x B C_in C_out 9 H W flops per direction.
//   OMP_NUM_THREADS=1 ./build/benchmarks/bench_segnet_convs [--reps 7]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/threads.h"

namespace {

double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

struct Layer {
  int in, out, h, w;
};

}  // namespace

int main(int argc, char** argv) {
  int reps = 7;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
  // Every distinct (C_in, C_out, H, W) of the network; the last four are W's input stage and the heads.
  const std::vector<Layer> layers = {{3, 16, 96, 128},  {16, 16, 96, 128},  {16, 32, 48, 64},  {32, 32, 48, 64},
                                     {32, 16, 48, 64},  {32, 64, 24, 32},   {64, 64, 24, 32},  {64, 32, 24, 32},
                                     {64, 128, 12, 16}, {128, 128, 12, 16}, {128, 64, 12, 16}, {128, 128, 6, 8},
                                     {16, 13, 96, 128}, {16, 1, 96, 128},   {16, 3, 96, 128}};
  std::printf("threads %d, batch 8, best of %d (process CPU ms, GFLOP/s)\n", gn::cpu::num_threads(), reps);
  std::printf("%-18s %18s %18s %18s\n", "layer", "forward", "data grad", "filter grad");
  for (const Layer& l : layers) {
    gn::ConvShape s;
    s.batch = 8, s.in_channels = l.in, s.in_h = l.h, s.in_w = l.w, s.out_channels = l.out;
    s.kernel_h = s.kernel_w = 3, s.stride_h = s.stride_w = 1, s.pad_h = s.pad_w = 1;
    s.dilation_h = s.dilation_w = 1, s.out_h = l.h, s.out_w = l.w;
    const std::size_t nx = 8u * l.in * l.h * l.w, ny = 8u * l.out * l.h * l.w, nw = 9u * l.in * l.out;
    std::vector<float> x(nx), dy(ny), w(nw), y(ny), dx(nx), dw(nw), db(l.out);
    for (std::size_t i = 0; i < nx; ++i) x[i] = static_cast<float>(i % 17) * 0.1f - 0.8f;
    for (std::size_t i = 0; i < ny; ++i) dy[i] = static_cast<float>(i % 13) * 0.1f - 0.6f;
    for (std::size_t i = 0; i < nw; ++i) w[i] = static_cast<float>(i % 7) * 0.01f - 0.03f;
    double best[3] = {1e30, 1e30, 1e30};
    for (int r = 0; r < reps; ++r) {
      const double t0 = cpu_ms();
      gn::cpu::conv2d_forward<float>(s, x.data(), w.data(), nullptr, y.data());
      const double t1 = cpu_ms();
      gn::cpu::conv2d_backward_data<float>(s, dy.data(), w.data(), dx.data());
      const double t2 = cpu_ms();
      gn::cpu::conv2d_backward_filter<float>(s, x.data(), dy.data(), dw.data(), db.data());
      const double t3 = cpu_ms();
      best[0] = std::min(best[0], t1 - t0), best[1] = std::min(best[1], t2 - t1), best[2] = std::min(best[2], t3 - t2);
    }
    const double gflop = 2.0 * 8 * l.in * l.out * 9 * l.h * l.w / 1e9;
    char name[32];
    std::snprintf(name, sizeof name, "%d->%d @%dx%d", l.in, l.out, l.h, l.w);
    std::printf("%-18s", name);
    for (double b : best) std::printf("   %6.2f (%5.1f)  ", b, gflop / b * 1e3);
    std::printf("\n");
  }
  return 0;
}
