// The NYUv2 data layer's speed (CPU): rendering a synthetic scene, reading one sample's .npy files from disk
// (HWC -> CHW), LibMTL's augmentation, and a prefetching NyuLoader batch (what a training step waits for when
// the loader cannot keep up). Sizes: 96x128 (the CPU training size) and 288x384 (the preprocessed NYUv2 size).
//   ./build/benchmarks/bench_nyuv2_data
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "apps/nyuv2/augment.h"
#include "apps/nyuv2/dataset.h"
#include "apps/nyuv2/loader.h"
#include "apps/nyuv2/synth.h"

namespace {

namespace fs = std::filesystem;
using namespace gn::nyuv2;

const std::vector<NyuTask> kTasks = {NyuTask::Segmentation, NyuTask::Depth, NyuTask::Normal};

std::vector<fs::path> created;  // removed at exit

// A synthetic set of 16 training samples of HxW, written once per size and process.
fs::path data_dir(std::int64_t H, std::int64_t W) {
  const fs::path dir = fs::temp_directory_path() / ("gn_bench_nyuv2_" + std::to_string(H) + "x" + std::to_string(W) +
                                                    "_" + std::to_string(getpid()));
  if (!fs::exists(dir)) {
    write_synthetic_nyuv2(dir, SynthSpec{16, 1, H, W, 1, 0});
    created.push_back(dir);
  }
  return dir;
}

void BM_RenderScene(benchmark::State& state) {
  const std::int64_t H = state.range(0), W = state.range(1);
  std::uint64_t seed = 0;
  for (auto _ : state) benchmark::DoNotOptimize(render_synthetic_scene(H, W, seed++, 0));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderScene)->Args({96, 128})->Args({288, 384})->Unit(benchmark::kMillisecond);

void BM_LoadSample(benchmark::State& state) {
  const std::int64_t H = state.range(0), W = state.range(1);
  const NyuDataset d(data_dir(H, W), "train", kTasks);
  std::int64_t k = 0;
  for (auto _ : state) benchmark::DoNotOptimize(d.load(k++ % d.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoadSample)->Args({96, 128})->Args({288, 384})->Unit(benchmark::kMillisecond);

// The same with LibMTL's random scale-crop and flip (a third of the draws are scale 1 without a flip: no work).
void BM_LoadAugmentedSample(benchmark::State& state) {
  const std::int64_t H = state.range(0), W = state.range(1);
  const NyuDataset d(data_dir(H, W), "train", kTasks);
  std::int64_t k = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.load(k % d.size(), draw_augment(H, W, static_cast<std::uint64_t>(k))));
    ++k;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoadAugmentedSample)->Args({96, 128})->Args({288, 384})->Unit(benchmark::kMillisecond);

// One next() of a loader (batch 8, augmented) with one reading thread, when the caller does nothing else:
// the loader's throughput (the prefetch hides it behind a step that takes longer).
void BM_LoaderBatch(benchmark::State& state) {
  const std::int64_t H = state.range(0), W = state.range(1);
  auto d = std::make_shared<NyuDataset>(data_dir(H, W), "train", kTasks);
  LoaderOptions o;
  o.batch = 8;
  o.augment = true;
  o.threads = static_cast<int>(state.range(2));
  NyuLoader loader(d, o);
  for (auto _ : state) benchmark::DoNotOptimize(loader.next());
  state.SetItemsProcessed(state.iterations() * 8);
}
BENCHMARK(BM_LoaderBatch)
    ->Args({96, 128, 1})
    ->Args({288, 384, 1})
    ->Args({288, 384, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (const fs::path& dir : created) fs::remove_all(dir);
  return 0;
}
