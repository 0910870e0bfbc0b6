// Kernel lab: the fused weighted-loss kernels of kernels/cuda/weighted_loss.cu, combine_task_blocks
// (v1..v2) and multitask_mse (v1..v3); what each variant changes and why is written at the top of that file.
//
//   ./build/benchmarks/kernel_lab/weighted_loss_lab [--repeats N] [--csv PATH] [--quick]
//
// 1. Validates every variant, float and double, against kernels/cpu/weighted_loss (bit-exact on integer
//    data, within the derived rounding bound against the float64 reference on normal data), outputs
//    poisoned with NaN first and the element after each output checked to be untouched: T = 1..16 at
//    sizes 1, 31, 32, 33, 100, 1023, 1024 (and 2^20 + 7 at T = 1, 2, 3, 7, 16), aligned and misaligned.
// 2. Times them from the toy's sizes up to ~50M elements next to the copy baseline (see common.h).
#include <memory>

#include "benchmarks/kernel_lab/common.h"
#include "kernels/cpu/weighted_loss.h"
#include "kernels/cuda/weighted_loss.h"

namespace {

using namespace gn;
using lab::DeviceBuffer;

constexpr std::int64_t kBig = (1 << 20) + 7;
const std::vector<std::int64_t> kSizes = {1, 31, 32, 33, 100, 1023, 1024, kBig};
bool skip(std::int64_t n, int num_tasks) {  // keeps the 2^20 + 7 cases to a few T
  return n == kBig && !(num_tasks <= 3 || num_tasks == 7 || num_tasks == 16);
}

bool is_poison(double x) { return std::isnan(x); }

template <class T>
std::vector<T> task_weights(bool integers) {
  std::vector<T> w(16);
  for (int t = 0; t < 16; ++t) w[t] = integers ? static_cast<T>(1 + t % 3) : static_cast<T>(0.1 + 0.37 * t);
  return w;
}

// ---- combine_task_blocks -------------------------------------------------------------------------

template <class T>
bool validate_combine(bool integers) {
  lab::Checker check(std::string("combine_task_blocks ") + lab::dtype_name<T>() +
                     (integers ? " on integer data (bit-exact)" : " on normal data (rounding bound)"));
  const std::int64_t pool_n = 16 * kBig + 64;
  const std::vector<T> host = lab::random_values<T>(pool_n, integers ? 21 : 22, integers);
  DeviceBuffer<T> pool(pool_n);
  pool.upload(host);
  const std::vector<T> w_host = task_weights<T>(integers);
  DeviceBuffer<T> w(16);
  w.upload(w_host);
  DeviceBuffer<T> out(kBig + 64);
  for (int num_tasks = 1; num_tasks <= 16; ++num_tasks)
    for (const std::int64_t D : kSizes)
      for (const std::int64_t B : {1, 3}) {
        if (skip(D, num_tasks) || (D == kBig && B > 1)) continue;
        for (const bool weighted : {false, true}) {
          // Aligned when D is even, else one element off (deltas and out), so v2 takes both paths.
          const std::int64_t off = D % 2 == 0 ? 0 : 1, n_in = B * num_tasks * D, n_out = B * D;
          const T* x = host.data() + off;
          const T* wp = weighted ? w_host.data() : nullptr;
          std::vector<T> ref_t(n_out);
          std::vector<double> ref(n_out), bound(n_out, 0.0);
          if (integers) {
            cpu::combine_task_blocks<T>(B, num_tasks, D, x, wp, ref_t.data());
          } else {
            const std::vector<double> xd(x, x + n_in);
            const std::vector<double> wd(w_host.begin(), w_host.end());
            cpu::combine_task_blocks<double>(B, num_tasks, D, xd.data(), weighted ? wd.data() : nullptr, ref.data());
            for (std::int64_t b = 0; b < B; ++b)
              for (int t = 0; t < num_tasks; ++t)
                for (std::int64_t j = 0; j < D; ++j)
                  bound[b * D + j] += std::abs((weighted ? wd[t] : 1.0) * xd[(b * num_tasks + t) * D + j]);
          }
          for (int v = 1; v <= cuda::kCombineVariants; ++v) {
            out.poison();
            cuda::combine_task_blocks_variant<T>(v, B, num_tasks, D, pool.get() + off, weighted ? w.get() : nullptr,
                                                 out.get() + off, lab::stream());
            const auto got = out.download(off + n_out + 1);
            const std::string where = lab::str("v%d B=%lld T=%d D=%lld %s", v, static_cast<long long>(B), num_tasks,
                                               static_cast<long long>(D), weighted ? "w" : "w=null");
            for (std::int64_t i = 0; i < n_out; ++i) {
              if (integers)
                check.equal_bits(got[off + i], ref_t[i], where, i);
              else
                check.near(got[off + i], ref[i], std::numeric_limits<T>::epsilon() * (num_tasks + 2) * bound[i], where,
                           i);
            }
            check.truth(is_poison(got[off + n_out]), where, "wrote past the end of out");
          }
        }
      }
  check.report();
  return check.ok();
}

// ---- multitask_mse -------------------------------------------------------------------------------

template <class T>
bool validate_mse(bool integers) {
  lab::Checker check(std::string("multitask_mse ") + lab::dtype_name<T>() +
                     (integers ? " on integer data (bit-exact)" : " on normal data (rounding bound)"));
  constexpr std::int64_t kPool = (std::int64_t{1} << 22) + 64;
  const std::vector<T> host = lab::random_values<T>(kPool, integers ? 31 : 32, integers);
  DeviceBuffer<T> pool(kPool);
  pool.upload(host);
  const std::vector<T> w_host = task_weights<T>(integers);
  DeviceBuffer<T> w(16);
  w.upload(w_host);
  DeviceBuffer<T> grads(16 * (kBig + 64));
  DeviceBuffer<double> losses(16);
  for (int num_tasks = 1; num_tasks <= 16; ++num_tasks)
    for (const std::int64_t n : kSizes) {
      if (skip(n, num_tasks)) continue;
      // Task t: pred and target at different pool offsets; t % 4 == 0: all three 16-byte aligned (the
      // packed path), else misaligned by t % 4 elements (the scalar path).
      std::vector<const T*> hp(num_tasks), hy(num_tasks), dp(num_tasks), dy(num_tasks);
      std::vector<T*> dg(num_tasks);
      std::vector<std::int64_t> g_off(num_tasks);
      const std::int64_t g_stride = n + 64;  // task t's gradient at t * g_stride + t % 4
      for (int t = 0; t < num_tasks; ++t) {
        const std::int64_t mis = t % 4, span = kPool - n - 64;
        const std::int64_t op = (t * 1048583 % span) / 4 * 4 + mis, oy = ((t * 524309 + 77) % span) / 4 * 4 + mis;
        hp[t] = host.data() + op;
        hy[t] = host.data() + oy;
        dp[t] = pool.get() + op;
        dy[t] = pool.get() + oy;
        g_off[t] = t * g_stride + mis;
        dg[t] = grads.get() + g_off[t];
      }
      // References: the CPU kernel in T on integer data (exact), in double on normal data.
      std::vector<double> ref_loss(num_tasks);
      std::vector<std::vector<double>> ref_g(num_tasks, std::vector<double>(n));
      if (integers) {
        std::vector<std::vector<T>> g(num_tasks, std::vector<T>(n));
        std::vector<T*> gp(num_tasks);
        for (int t = 0; t < num_tasks; ++t) gp[t] = g[t].data();
        cpu::multitask_mse<T>(num_tasks, n, hp.data(), hy.data(), w_host.data(), ref_loss.data(), gp.data());
        for (int t = 0; t < num_tasks; ++t) ref_g[t].assign(g[t].begin(), g[t].end());
      } else {
        std::vector<double*> gp(num_tasks);
        for (int t = 0; t < num_tasks; ++t) gp[t] = ref_g[t].data();
        cpu::multitask_mse_float64<T>(num_tasks, n, hp.data(), hy.data(), w_host.data(), ref_loss.data(), gp.data());
      }
      for (int v = 1; v <= cuda::kMultitaskMseVariants; ++v) {
        grads.poison();
        losses.poison();
        cuda::multitask_mse_variant<T>(v, num_tasks, n, dp.data(), dy.data(), w.get(), losses.get(), dg.data(),
                                       lab::stream());
        const auto got_loss = losses.download(num_tasks);
        const auto got_g = grads.download(num_tasks * g_stride);
        for (int t = 0; t < num_tasks; ++t) {
          const std::string where = lab::str("v%d T=%d n=%lld task %d", v, num_tasks, static_cast<long long>(n), t);
          if (integers)
            check.equal_bits(got_loss[t], ref_loss[t], where + " loss");
          else
            check.near(got_loss[t], ref_loss[t], lab::sum_rtol<T>(n / 256 + 4) * ref_loss[t], where + " loss");
          const std::string where_g = where + " grad";
          for (std::int64_t j = 0; j < n; ++j) {
            const double g = got_g[g_off[t] + j];
            if (integers)
              check.equal_bits(g, ref_g[t][j], where_g, j);
            else
              check.near(g, ref_g[t][j], 4 * std::numeric_limits<T>::epsilon() * std::abs(ref_g[t][j]) + 1e-300,
                         where_g, j);
          }
          check.truth(is_poison(got_g[g_off[t] + n]), where, "wrote past the end of its grad");
        }
      }
    }
  check.report();
  return check.ok();
}

// ---- timing --------------------------------------------------------------------------------------

template <class T>
DeviceBuffer<T> filled(std::int64_t n, std::uint64_t seed) {
  DeviceBuffer<T> d(n);
  const std::int64_t block = std::min<std::int64_t>(n, 1 << 20);
  const std::vector<T> h = lab::random_values<T>(block, seed, false);
  for (std::int64_t off = 0; off < n; off += block)
    LAB_CUDA(cudaMemcpyAsync(d.get() + off, h.data(), sizeof(T) * std::min(block, n - off), cudaMemcpyHostToDevice,
                             lab::stream()));
  LAB_CUDA(cudaStreamSynchronize(lab::stream()));
  return d;
}

template <class T>
void time_combine(lab::Bench& bench, lab::Table& table, bool quick) {
  struct Case {
    std::int64_t B, D;
    int tasks;
    const char* note;
  };
  std::vector<Case> cases = {{100, 100, 2, "toy"}, {100, 100, 10, "toy"}, {1024, 1024, 4, ""},
                             {4096, 1024, 10, ""}, {16384, 1024, 2, ""},  {4096, 1001, 10, "D odd: v2 at width 1"}};
  if (quick) cases.resize(4);
  for (const Case& c : cases) {
    DeviceBuffer<T> deltas = filled<T>(c.B * c.tasks * c.D, 3);
    DeviceBuffer<T> out(c.B * c.D);
    DeviceBuffer<T> w = filled<T>(c.tasks, 4);
    const double elems = static_cast<double>(c.B * c.tasks * c.D);
    const double bytes = (elems + static_cast<double>(c.B * c.D)) * sizeof(T);
    const std::string shape =
        *c.note ? lab::str("B=%lld D=%lld (%s)", static_cast<long long>(c.B), static_cast<long long>(c.D), c.note)
                : lab::str("B=%lld D=%lld", static_cast<long long>(c.B), static_cast<long long>(c.D));
    lab::Row row{"combine", lab::dtype_name<T>(), 0, shape, c.tasks, elems, bytes};
    row.copy_ms = row.ms = bench.copy_ms(bytes);
    table.add(row);
    for (int v = 1; v <= cuda::kCombineVariants; ++v) {
      row.variant = v;
      row.ms = bench.median_ms([&] {
        cuda::combine_task_blocks_variant<T>(v, c.B, c.tasks, c.D, deltas.get(), w.get(), out.get(), lab::stream());
      });
      table.add(row);
    }
  }
}

template <class T>
void time_mse(lab::Bench& bench, lab::Table& table, bool quick) {
  struct Case {
    std::int64_t n;
    int tasks;
    const char* shape;
  };
  std::vector<Case> cases = {{10000, 2, "100x100 (toy)"},
                             {10000, 10, "100x100 (toy)"},
                             {std::int64_t{1} << 20, 4, "1M per task"},
                             {5'000'000, 10, "5M per task"}};
  if (quick) cases.resize(3);
  for (const Case& c : cases) {
    const std::int64_t total = c.n * c.tasks;
    DeviceBuffer<T> pred = filled<T>(total, 5), target = filled<T>(total, 6), grad(total);
    DeviceBuffer<T> w = filled<T>(c.tasks, 8);
    DeviceBuffer<double> losses(c.tasks);
    std::vector<const T*> p(c.tasks), y(c.tasks);
    std::vector<T*> g(c.tasks);
    for (int t = 0; t < c.tasks; ++t) {
      p[t] = pred.get() + t * c.n;
      y[t] = target.get() + t * c.n;
      g[t] = grad.get() + t * c.n;
    }
    const double bytes = 3.0 * static_cast<double>(total) * sizeof(T);  // read p, y; write g
    lab::Row row{"multitask_mse", lab::dtype_name<T>(), 0, c.shape, c.tasks, static_cast<double>(total), bytes};
    row.copy_ms = row.ms = bench.copy_ms(bytes);
    table.add(row);
    for (int v = 1; v <= cuda::kMultitaskMseVariants; ++v) {
      row.variant = v;
      row.ms = bench.median_ms([&] {
        cuda::multitask_mse_variant<T>(v, c.tasks, c.n, p.data(), y.data(), w.get(), losses.get(), g.data(),
                                       lab::stream());
      });
      table.add(row);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return lab::run_lab("weighted_loss_lab", argc, argv, [](const lab::Args& args) {
    bool ok = true;
    for (const bool integers : {true, false}) {
      ok = validate_combine<float>(integers) && ok;
      ok = validate_combine<double>(integers) && ok;
      ok = validate_mse<float>(integers) && ok;
      ok = validate_mse<double>(integers) && ok;
    }
    if (!ok) {
      std::printf("weighted_loss_lab: validation failed; not timing\n");
      return false;
    }
    lab::Bench bench(args.repeats);
    lab::Table table;
    time_combine<float>(bench, table, args.quick);
    time_combine<double>(bench, table, args.quick);
    time_mse<float>(bench, table, args.quick);
    time_mse<double>(bench, table, args.quick);
    table.print();
    table.write_csv(args.csv);
    return true;
  });
}
