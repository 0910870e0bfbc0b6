// Kernel lab: the GradNorm weight update on the device (kernels/cuda/gradnorm_update.cu), one variant.
// Not a bandwidth kernel (T numbers in, T numbers out), so the lab shows latency instead: the device
// update against what it replaces, a host round trip (copy L_i and G_i to the host, synchronise, run the
// CPU update, copy w back, synchronise).
//
//   ./build/benchmarks/kernel_lab/gradnorm_update_lab [--repeats N] [--csv PATH] [--quick]
//
// 1. Validates 12 updates against the CPU kernel (cpu::gradnorm_update, run on a host copy of the device
//    state before every update, so each comparison is of one update from equal states), for weights in
//    double and float, T = 1..16, both norm conventions, Adam and SGD, L_i(0) from 1 or 3 updates.
// 2. Times both paths for T = 2, 10, 16 (median of --repeats).
#include <chrono>
#include <cmath>

#include "benchmarks/kernel_lab/common.h"
#include "kernels/cpu/gradnorm_update.h"
#include "kernels/cuda/gradnorm_update.h"
#include "kernels/gradnorm_update_state.h"

namespace {

using namespace gn;
using lab::DeviceBuffer;

constexpr double kEps64 = std::numeric_limits<double>::epsilon();

// Step k's losses and norms: losses decay at task-dependent rates; G_i = w_i * g_i with g_i varying.
void make_inputs(int T, int k, const double* w, std::vector<double>& L, std::vector<double>& G) {
  L.resize(T);
  G.resize(T);
  for (int i = 0; i < T; ++i) {
    L[i] = (1.0 + i) * std::exp(-0.05 * (1 + i % 5) * k) + 0.01 * std::sin(3.0 * k + i);
    G[i] = w[i] * (0.5 + 0.3 * i + 0.2 * std::cos(0.7 * k + i));
  }
}

// A state block (kernels/gradnorm_update_state.h) on the host: w = 1, the rest 0, outputs NaN.
struct HostState {
  int T = 0;
  std::vector<double> block;
  std::int64_t status = kGradNormOk;  // an input too: a failure is sticky
  explicit HostState(int tasks = 0) : T(tasks), block(static_cast<std::size_t>(gradnorm_state_doubles(tasks)), 0.0) {
    std::fill(block.begin(), block.begin() + T, 1.0);
    poison_outputs();
  }
  GradNormBuffers b() { return gradnorm_buffers(T, block.data(), &status); }
  void poison_outputs() {
    std::fill(block.begin() + gradnorm_persistent_doubles(T), block.end(), std::numeric_limits<double>::quiet_NaN());
    status = kGradNormOk;
  }
};

// The same block on the device.
struct DeviceState {
  int T;
  DeviceBuffer<double> block;
  DeviceBuffer<std::int64_t> status;
  explicit DeviceState(int tasks) : T(tasks), block(gradnorm_state_doubles(tasks)), status(1) { write(HostState(T)); }
  GradNormBuffers b() const { return gradnorm_buffers(T, block.get(), status.get()); }
  void write(const HostState& h) {
    block.upload(h.block);
    status.upload({h.status});
  }
  HostState read() const {
    HostState h(T);
    h.block = block.download();
    h.status = status.download()[0];
    return h;
  }
};

// One device update against the CPU kernel's from the same state, within the rounding bound of that one
// update (tests/kernels/gradnorm_cuda_update_test.cpp derives it term by term, u = eps / 2): norms, L_i(0),
// the loss sum, ratios and inverse rates are correctly rounded operations on equal inputs (same bits);
// targets differ by pow (CUDA <= 2 ulp, glibc <= 1) and a product's rounding per side; dLgrad/dw_i =
// +-G_i / w_i is the same bits while |G_i - target_i| exceeds that; Adam's moments 2 eps (m) and 3 eps (v)
// of their terms, its step 4 eps more; SGD one rounding a side; the renormalisation T eps of the total
// and 2 eps of each weight.
template <class W>
void check_update(lab::Checker& check, const std::string& where, HostState before, HostState cpu, HostState dev,
                  const std::vector<W>& out_cpu, const std::vector<W>& out_dev, const GradNormUpdateOptions& o,
                  std::int64_t update) {
  const int T = before.T;
  const GradNormBuffers p = before.b(), c = cpu.b(), d = dev.b();
  check.truth(cpu.status == kGradNormOk && dev.status == kGradNormOk, where, "status not ok");
  for (int i = 0; i < T; ++i) {
    check.equal_bits(d.norms[i], c.norms[i], where + " norms", i);
    check.equal_bits(d.initial_losses[i], c.initial_losses[i], where + " L_i(0)", i);
    check.equal_bits(d.initial_loss_sum[i], c.initial_loss_sum[i], where + " loss sum", i);
    check.equal_bits(d.loss_ratio[i], c.loss_ratio[i], where + " ratio", i);
    check.equal_bits(d.inverse_rate[i], c.inverse_rate[i], where + " inverse rate", i);
  }
  const bool adam = o.optimizer == GradNormOptimizer::Adam;
  const double step_size = o.lr / (1 - std::pow(o.beta1, static_cast<double>(update)));
  const double bc2_sqrt = std::sqrt(1 - std::pow(o.beta2, static_cast<double>(update)));
  std::vector<double> tol_stepped(T);
  double tol_lgrad = 0, total = 0, tol_total = 0;
  for (int i = 0; i < T; ++i) {
    const double target = c.target[i], diff = c.norms[i] - target, dw = c.weight_grad[i];
    const double tol_target = (2 + 1 + 1) * kEps64 * std::abs(target);
    const double tol_diff = tol_target + kEps64 * std::abs(diff);
    check.near(d.target[i], target, tol_target, where + " target", i);
    check.truth(c.inverse_rate[i] == 1.0 || std::abs(diff) > tol_diff, where,
                "a task is on its target to rounding (sign of dLgrad/dw undetermined): change the inputs");
    check.equal_bits(d.weight_grad[i], dw, where + " dw", i);
    tol_lgrad += tol_diff;
    if (adam) {
      const double tol_m = 2 * kEps64 * (o.beta1 * std::abs(p.adam_m[i]) + (1 - o.beta1) * std::abs(dw));
      const double tol_v = 3 * kEps64 * (o.beta2 * p.adam_v[i] + (1 - o.beta2) * dw * dw);
      check.near(d.adam_m[i], c.adam_m[i], tol_m, where + " m", i);
      check.near(d.adam_v[i], c.adam_v[i], tol_v, where + " v", i);
      const double m = c.adam_m[i], v = c.adam_v[i];
      const double den = std::sqrt(v) / bc2_sqrt + o.eps, step = step_size * m / den;
      tol_stepped[i] = step_size * (tol_m + kEps64 * std::abs(m)) / den +
                       std::abs(step) * ((v > 0 ? tol_v / (2 * v) : 0.0) + 4 * kEps64) +
                       kEps64 * std::abs(c.weights_stepped[i]);
    } else {
      check.equal_bits(d.adam_m[i], p.adam_m[i], where + " m (SGD)", i);
      tol_stepped[i] = kEps64 * (o.lr * std::abs(dw) + std::abs(c.weights_stepped[i]));
    }
    check.near(d.weights_stepped[i], c.weights_stepped[i], tol_stepped[i], where + " stepped w", i);
    total += std::max(c.weights_stepped[i], o.min_weight);
    tol_total += tol_stepped[i];
  }
  tol_total += T * kEps64 * total;
  check.near(*d.lgrad, *c.lgrad, tol_lgrad + T * kEps64 * *c.lgrad, where + " lgrad");
  double sum = 0;
  for (int i = 0; i < T; ++i) {
    const double floored = std::max(c.weights_stepped[i], o.min_weight);
    const double tol_w = c.weights[i] * (tol_stepped[i] / floored + tol_total / total + 2 * kEps64);
    check.near(d.weights[i], c.weights[i], tol_w, where + " w", i);
    check.truth(out_dev[i] == static_cast<W>(d.weights[i]), where, "weights_out is not the master rounded to W");
    const double tol_out = tol_w + (sizeof(W) == 4 ? std::numeric_limits<float>::epsilon() * c.weights[i] : 0.0);
    check.near(out_dev[i], out_cpu[i], tol_out, where + " weights_out", i);
    sum += d.weights[i];
  }
  // Both keep sum w = T: T (T + 1) eps bounds the renormalisation's and this sum's roundings.
  check.near(sum, T, T * (T + 1) * kEps64, where + " sum w");
}

template <class W>
bool validate() {
  lab::Checker check(std::string("gradnorm_update, weights ") + lab::dtype_name<W>() + ", 12 updates vs CPU");
  for (int T = 1; T <= 16; ++T) {
    GradNormUpdateOptions opt;
    opt.alpha = 0.12 + 0.1 * (T % 4);
    opt.squared_norms = T % 2 == 0;  // both input conventions
    opt.optimizer = T % 3 == 0 ? GradNormOptimizer::Sgd : GradNormOptimizer::Adam;
    opt.initial_loss_steps = T % 4 < 2 ? 1 : 3;
    DeviceState dev(T);
    DeviceBuffer<W> w(T);
    DeviceBuffer<double> L_d(T), G_d(T);
    for (int k = 1; k <= 12; ++k) {
      HostState before = dev.read();
      before.poison_outputs();
      dev.write(before);
      std::vector<double> L, G;
      make_inputs(T, k, before.block.data(), L, G);
      if (opt.squared_norms)
        for (auto& g : G) g = g * g;
      L_d.upload(L);
      G_d.upload(G);
      w.poison();
      cuda::gradnorm_update<W>(T, L_d.get(), G_d.get(), nullptr, dev.b(), w.get(), opt, k, lab::stream());
      HostState cpu = before;
      std::vector<W> w_cpu(T);
      cpu::gradnorm_update<W>(T, L.data(), G.data(), nullptr, cpu.b(), w_cpu.data(), opt, k);
      check_update<W>(check, lab::str("T=%d update %d", T, k), before, cpu, dev.read(), w_cpu, w.download(), opt, k);
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
    GradNormUpdateOptions opt;
    opt.squared_norms = false;
    DeviceState state(T);
    std::vector<double> L, G;
    make_inputs(T, 1, std::vector<double>(T, 1.0).data(), L, G);
    DeviceBuffer<double> w(T), L_d(T), G_d(T);
    L_d.upload(L);
    G_d.upload(G);
    std::int64_t update = 0;
    const double device_ms = bench.median_ms([&] {
      cuda::gradnorm_update<double>(T, L_d.get(), G_d.get(), nullptr, state.b(), w.get(), opt, ++update, lab::stream());
    });
    // What it replaces: the state on the host, L_i and G_i copied over, the CPU update, w copied back.
    HostState host(T);
    std::vector<double> Lh(T), Gh(T), wh(T);
    std::vector<double> wall;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      LAB_CUDA(cudaMemcpyAsync(Lh.data(), L_d.get(), sizeof(double) * T, cudaMemcpyDeviceToHost, lab::stream()));
      LAB_CUDA(cudaMemcpyAsync(Gh.data(), G_d.get(), sizeof(double) * T, cudaMemcpyDeviceToHost, lab::stream()));
      LAB_CUDA(cudaStreamSynchronize(lab::stream()));
      cpu::gradnorm_update<double>(T, Lh.data(), Gh.data(), nullptr, host.b(), wh.data(), opt, r + 1);
      if (host.status != kGradNormOk) throw std::runtime_error("host round trip: update failed");
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
