#!/usr/bin/env bash
# Interleaved NYUv2 SegNet step (width 0.25, 96x128, batch 8, equal weights, Adam): ours
# (bench_nyuv2_step) against PyTorch (nyuv2_torch.py), round after round, so that both see the same load.
# Prints one line per run: who, threads, extra environment, 1-minute load average, wall and process CPU
# time per step (ms, medians as each tool reports them). On a shared machine compare the CPU column.
#   bash benchmarks/segnet_vs_torch.sh THREADS ROUNDS [VAR=VALUE]
#   e.g. bash benchmarks/segnet_vs_torch.sh 2 3 OMP_WAIT_POLICY=passive
# OURS (default build/benchmarks/bench_nyuv2_step) picks our binary; BEFORE, if set, names a second build
# of the same benchmark (e.g. from an older commit) that runs first in every round.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$1 rounds=$2 extra=${3:-GN_UNUSED=1}
ours=${OURS:-build/benchmarks/bench_nyuv2_step}
run_ours() {  # label binary
  local line
  line=$(env "$extra" "$2" --benchmark_filter="BM_SegNetStep/equal/threads:$threads/" --benchmark_min_time=2 2>&1 |
    grep "BM_SegNetStep/equal" || true)
  echo "$1 threads=$threads $extra load=$(cut -d' ' -f1 /proc/loadavg) wall=$(echo "$line" | awk '{print $2}')" \
    "cpu=$(echo "$line" | awk '{print $4}')"
}
for _ in $(seq "$rounds"); do
  [ -n "${BEFORE:-}" ] && run_ours before "$BEFORE"
  run_ours ours "$ours"
  out=$(env "$extra" /usr/bin/python3 benchmarks/nyuv2_torch.py --threads "$threads" --steps 3 --repeats 2 2>&1)
  echo "torch threads=$threads $extra load=$(cut -d' ' -f1 /proc/loadavg)" \
    "wall=$(echo "$out" | sed -n 's/^step wall ms: median \([0-9.]*\).*/\1/p')" \
    "cpu=$(echo "$out" | sed -n 's/^step cpu ms (all threads): median \([0-9.]*\).*/\1/p')"
done
