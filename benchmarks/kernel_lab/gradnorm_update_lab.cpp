// Kernel lab: the GradNorm weight update on the device (kernels/cuda/gradnorm_update.cu), one variant.
// Not a bandwidth kernel (T numbers in, T numbers out), so the lab shows latency instead: the device
// update against what it replaces, a host round trip (copy L_i and G_i to the host, synchronise, run the
// CPU update, copy w back, synchronise).
//
//   ./build/benchmarks/kernel_lab/gradnorm_update_lab [--repeats N] [--csv PATH] [--quick]
//
// 1. Validates 12 steps against the CPU sequence (cpu::gradnorm_weight_grad, cpu::adam_step<double>,
//    cpu::renormalize_weights<double>), for weights in double and float, T = 1..16.
// 2. Times both paths for T = 2, 10, 16 (median of --repeats).
#include <chrono>
#include <cmath>

#include "benchmarks/kernel_lab/common.h"
#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/gradnorm_update.h"

namespace {

using namespace gn;
using lab::DeviceBuffer;

using CpuGradNorm = cpu::GradNormReference;  // kernels/cpu/gradnorm_update.h

// Step k's losses and norms: losses decay at task-dependent rates; G_i = w_i * g_i with g_i varying.
void make_inputs(int T, int k, const std::vector<double>& w, std::vector<double>& L, std::vector<double>& G) {
  L.resize(T);
  G.resize(T);
  for (int i = 0; i < T; ++i) {
    L[i] = (1.0 + i) * std::exp(-0.05 * (1 + i % 5) * k) + 0.01 * std::sin(3.0 * k + i);
    G[i] = w[i] * (0.5 + 0.3 * i + 0.2 * std::cos(0.7 * k + i));
  }
}

template <class W>
bool validate() {
  lab::Checker check(std::string("gradnorm_update, weights ") + lab::dtype_name<W>() + ", 12 steps vs CPU");
  const double rtol = sizeof(W) == 8 ? 1e-11 : 4e-6;
  for (int T = 1; T <= 16; ++T) {
    cuda::GradNormUpdateOptions opt;
    opt.alpha = 0.12 + 0.1 * (T % 4);
    opt.squared_norms = T % 2 == 0;  // both input conventions
    cuda::GradNormDeviceState state(T, lab::stream());
    CpuGradNorm cpu_ref(T);
    std::vector<W> w_host(T, W(1)), w_ref(T, W(1));
    DeviceBuffer<W> w(T);
    w.upload(w_host);
    DeviceBuffer<double> L_d(T), G_d(T);
    for (int k = 1; k <= 12; ++k) {
      std::vector<double> L, G, wd(w_ref.begin(), w_ref.end());
      make_inputs(T, k, wd, L, G);
      std::vector<double> G_in = G;
      if (opt.squared_norms)
        for (auto& g : G_in) g = g * g;
      L_d.upload(L);
      G_d.upload(G_in);
      cuda::gradnorm_update<W>(T, L_d.get(), G_d.get(), nullptr, w.get(), state, opt, k, lab::stream());
      cpu_ref.step(L, G, w_ref, opt, k);
      const auto got = w.download();
      const auto diag = state.read(lab::stream());
      const std::string where = lab::str("T=%d step %d", T, k);
      check.truth(diag.status == cuda::kGradNormOk, where, "status not ok");
      for (int i = 0; i < T; ++i) {
        check.near(got[i], w_ref[i], rtol * std::abs(static_cast<double>(w_ref[i])), where + " w", i);
        if (sizeof(W) == 8) {  // the intermediates, against the same-step CPU values
          check.near(diag.loss_ratio[i], cpu_ref.ratio[i], 1e-12 * std::abs(cpu_ref.ratio[i]), where + " ratio", i);
          check.near(diag.target[i], cpu_ref.target[i], 1e-12 * std::abs(cpu_ref.target[i]), where + " target", i);
          check.near(diag.weight_grad[i], cpu_ref.dw[i], 1e-12 * std::abs(cpu_ref.dw[i]), where + " dw", i);
        }
      }
      if (sizeof(W) == 8)
        check.near(diag.lgrad, cpu_ref.lgrad, 1e-12 * std::abs(cpu_ref.lgrad) + 1e-15, where + " lgrad");
      // Both keep sum w = T.
      double sum = 0;
      for (int i = 0; i < T; ++i) sum += got[i];
      check.near(sum, T, 8 * T * std::numeric_limits<W>::epsilon(), where + " sum w");
    }
  }
  check.report();
  return check.ok();
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

void time_update(lab::Bench& bench, int repeats, const std::string& csv) {
  std::printf("\n| T | device update (us, events) | host round trip (us, wall) |\n|---|---|---|\n");
  std::string rows;
  for (int T : {2, 10, 16}) {
    cuda::GradNormUpdateOptions opt;
    cuda::GradNormDeviceState state(T, lab::stream());
    std::vector<double> w_host(T, 1.0), L, G;
    make_inputs(T, 1, w_host, L, G);
    DeviceBuffer<double> w(T), L_d(T), G_d(T);
    w.upload(w_host);
    L_d.upload(L);
    G_d.upload(G);
    std::int64_t step = 0;
    const double device_ms = bench.median_ms([&] {
      cuda::gradnorm_update<double>(T, L_d.get(), G_d.get(), nullptr, w.get(), state, opt, ++step, lab::stream());
    });
    CpuGradNorm cpu_ref(T);
    std::vector<double> Lh(T), Gh(T), wh(T);
    std::vector<double> wall;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      LAB_CUDA(cudaMemcpyAsync(Lh.data(), L_d.get(), sizeof(double) * T, cudaMemcpyDeviceToHost, lab::stream()));
      LAB_CUDA(cudaMemcpyAsync(Gh.data(), G_d.get(), sizeof(double) * T, cudaMemcpyDeviceToHost, lab::stream()));
      LAB_CUDA(cudaMemcpyAsync(wh.data(), w.get(), sizeof(double) * T, cudaMemcpyDeviceToHost, lab::stream()));
      LAB_CUDA(cudaStreamSynchronize(lab::stream()));
      cpu_ref.step(Lh, Gh, wh, opt, r + 1);
      LAB_CUDA(cudaMemcpyAsync(w.get(), wh.data(), sizeof(double) * T, cudaMemcpyHostToDevice, lab::stream()));
      LAB_CUDA(cudaStreamSynchronize(lab::stream()));
      wall.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    const double host_us = median(wall);
    std::printf("| %d | %.1f | %.1f |\n", T, device_ms * 1e3, host_us);
    rows += lab::str("%d,%.3f,%.3f\n", T, device_ms * 1e3, host_us);
  }
  if (!csv.empty()) {
    std::ofstream f(csv);
    if (!f) throw std::runtime_error("cannot write " + csv);
    f << "tasks,device_update_us,host_round_trip_us\n" << rows;
    std::printf("wrote %s\n", csv.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  return lab::run_lab("gradnorm_update_lab", argc, argv, [](const lab::Args& args) {
    const bool ok = validate<double>() & validate<float>();
    if (!ok) {
      std::printf("gradnorm_update_lab: validation failed; not timing\n");
      return false;
    }
    lab::Bench bench(args.repeats);
    time_update(bench, args.repeats, args.csv);
    return true;
  });
}
