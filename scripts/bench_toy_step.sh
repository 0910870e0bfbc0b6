#!/usr/bin/env bash
# Toy step time, ours vs PyTorch, in one go on this machine (1 thread, batch 100, T = 2 and 10).
# Prints both; the ratios go to benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
bash scripts/install_torch.sh >/dev/null
echo "== gradnorm (C++), median of 5 repetitions"
./build/benchmarks/bench_toy_step --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_min_time=1 --benchmark_enable_random_interleaving=true 2>&1 | grep -E "median|Run on|Paired"
echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), same model"
/usr/bin/python3 benchmarks/toy_step_torch.py --threads 1 --steps 1000
