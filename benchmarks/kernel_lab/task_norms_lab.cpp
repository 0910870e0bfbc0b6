// Kernel lab: per-task squared gradient norms, kernels/cuda/task_norms.cu variants v1..v5 (what each one
// changes and why it is faster is written at the top of that file).
//
//   ./build/benchmarks/kernel_lab/task_norms_lab [--repeats N] [--csv PATH] [--quick]
//
// 1. Validates every variant, float and double, against cpu::per_task_sq_norms (float64 accumulation)
//    for T = 1..16 tasks of n in {1, 31, 32, 33, 1023, 2^20 + 7} elements (plus a bias piece of 0..2
//    elements, empty pieces, pieces out of task order, every 16-byte misalignment), outputs poisoned
//    with NaN first: bit-exact on integer data, within the derived rounding bound on normal data.
// 2. Times each variant from the toy's 100x100 W (T = 2, 5, 10) to 50M elements, next to the copy
//    baseline, and prints the table (see common.h for what the columns mean).
#include <memory>

#include "benchmarks/kernel_lab/common.h"
#include "kernels/cpu/task_norms.h"
#include "kernels/cuda/task_norms.h"

namespace {

using namespace gn;
using lab::DeviceBuffer;

constexpr std::int64_t kAwkward[] = {1, 31, 32, 33, 1023, (1 << 20) + 7};

template <class T>
bool validate(bool integers) {
  lab::Checker check(std::string("task_norms ") + lab::dtype_name<T>() +
                     (integers ? " on integer data (bit-exact)" : " on normal data (rounding bound)"));
  constexpr std::int64_t kPool = (std::int64_t{1} << 22) + 64;
  const std::vector<T> host = lab::random_values<T>(kPool, integers ? 11 : 12, integers);
  DeviceBuffer<T> pool(kPool);
  pool.upload(host);
  DeviceBuffer<double> sq(16);
  DeviceBuffer<int> flags(16);
  for (int num_tasks = 1; num_tasks <= 16; ++num_tasks)
    for (const std::int64_t n : kAwkward) {
      std::vector<cpu::TaskPiece<T>> hp;
      std::vector<cuda::TaskPiece<T>> dp;
      std::vector<std::int64_t> task_elems(num_tasks, 0);
      auto add = [&](int t, std::int64_t off, std::int64_t len) {
        hp.push_back({t, host.data() + off, len});
        dp.push_back({t, pool.get() + off, len});
        task_elems[t] += len;
      };
      for (int t = num_tasks - 1; t >= 0; --t) {  // listed last task first: the table must group them
        const std::int64_t off_w = (t * 104729 + n * 3) % (kPool - n - 16);
        const std::int64_t off_b = (t * 7919 + 5) % (kPool - 16);
        const std::int64_t nb = t % 3;  // 0: an empty piece
        if (t % 2) add(t, off_b, nb);
        add(t, off_w, n);
        if (t % 2 == 0) add(t, off_b, nb);
      }
      std::vector<double> ref(num_tasks);
      const auto ref_flags = std::make_unique<bool[]>(num_tasks);
      cpu::per_task_sq_norms<T>(num_tasks, hp, ref.data(), ref_flags.get());

      cuda::TaskPieceTable<T> table;
      table.set(num_tasks, dp, lab::stream());
      for (int v = 1; v <= cuda::kTaskNormsVariants; ++v) {
        sq.poison();
        flags.poison();
        cuda::per_task_sq_norms_variant<T>(v, table, sq.get(), flags.get(), lab::stream());
        const auto got = sq.download(num_tasks);
        const auto got_flags = flags.download(num_tasks);
        for (int t = 0; t < num_tasks; ++t) {
          const std::string where = lab::str("v%d T=%d n=%lld task %d", v, num_tasks, static_cast<long long>(n), t);
          if (integers)
            check.equal_bits(got[t], ref[t], where);
          else
            check.near(got[t], ref[t], lab::sum_rtol<T>(task_elems[t] / 256 + 4) * ref[t], where);
          check.truth(got_flags[t] == 0, where, "flagged non-finite");
        }
      }
    }
  check.report();
  return check.ok();
}

// Device buffer of n elements filled with a repeated block of normal values (the timing does not
// depend on the values, only on there being no NaN).
template <class T>
DeviceBuffer<T> filled(std::int64_t n) {
  DeviceBuffer<T> d(n);
  const std::int64_t block = std::min<std::int64_t>(n, 1 << 20);
  const std::vector<T> h = lab::random_values<T>(block, 7, false);
  for (std::int64_t off = 0; off < n; off += block) {
    const std::int64_t len = std::min(block, n - off);
    LAB_CUDA(cudaMemcpyAsync(d.get() + off, h.data(), sizeof(T) * len, cudaMemcpyHostToDevice, lab::stream()));
  }
  LAB_CUDA(cudaStreamSynchronize(lab::stream()));
  return d;
}

struct Case {
  std::string shape;
  std::int64_t weight, bias;  // per task: one weight piece and one bias piece, as the training step has
  int tasks;
};

template <class T>
void time_all(lab::Bench& bench, lab::Table& table, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    const std::int64_t per_task = c.weight + c.bias, total = per_task * c.tasks;
    DeviceBuffer<T> data = filled<T>(total);
    std::vector<cuda::TaskPiece<T>> pieces;
    for (int t = 0; t < c.tasks; ++t) pieces.push_back({t, data.get() + t * c.weight, c.weight});
    for (int t = 0; t < c.tasks; ++t) pieces.push_back({t, data.get() + c.tasks * c.weight + t * c.bias, c.bias});
    cuda::TaskPieceTable<T> pt;
    pt.set(c.tasks, pieces, lab::stream());
    DeviceBuffer<double> sq(c.tasks);
    DeviceBuffer<int> flags(c.tasks);
    const double bytes = static_cast<double>(total) * sizeof(T);
    lab::Row row{"task_norms", lab::dtype_name<T>(), 0, c.shape, c.tasks, static_cast<double>(total), bytes};
    row.copy_ms = bench.copy_ms(bytes);
    row.ms = row.copy_ms;
    table.add(row);
    for (int v = 1; v <= cuda::kTaskNormsVariants; ++v) {
      row.variant = v;
      row.ms =
          bench.median_ms([&] { cuda::per_task_sq_norms_variant<T>(v, pt, sq.get(), flags.get(), lab::stream()); });
      table.add(row);
    }
  }
}

std::vector<Case> cases(bool quick) {
  std::vector<Case> cs;
  for (int t : {2, 5, 10}) cs.push_back({"100x100 W + 100 bias", 100 * 100, 100, t});
  std::vector<std::int64_t> totals = {std::int64_t{1} << 20, std::int64_t{8} << 20, 50'000'000};
  if (quick) totals = {std::int64_t{8} << 20};
  for (const std::int64_t total : totals)
    for (int t : {2, 10}) {
      const std::int64_t per_task = total / t;
      char shape[64];
      std::snprintf(shape, sizeof(shape), "%.1fM total, 1000 bias", static_cast<double>(total) / 1e6);
      cs.push_back({shape, per_task - 1000, 1000, t});
    }
  return cs;
}

}  // namespace

int main(int argc, char** argv) {
  return lab::run_lab("task_norms_lab", argc, argv, [](const lab::Args& args) {
    bool ok = validate<float>(true) & validate<float>(false) & validate<double>(true) & validate<double>(false);
    if (!ok) {
      std::printf("task_norms_lab: validation failed; not timing\n");
      return false;
    }
    lab::Bench bench(args.repeats);
    lab::Table table;
    time_all<float>(bench, table, cases(args.quick));
    time_all<double>(bench, table, cases(args.quick));
    table.print();
    table.write_csv(args.csv);
    return true;
  });
}
