#!/usr/bin/env bash
# Data-parallel throughput on the CPU: 1 rank x 1 thread, 1 rank x 2 threads, 2 ranks x 1 thread, for the toy
# (T=2 and T=10) and NYUv2-small (SegNet 0.125, 48x64). Layouts are interleaved round after round, so a load
# change hits all of them alike. Prints one line per run: app layout round step_ms comm_ms.
#
#   bash benchmarks/data_parallel_cpu.sh [BUILD] [ROUNDS]     (BUILD: default build, ROUNDS: default 3)
#
# Step times are the apps' own medians (summary.json: step_ms_median for the toy, 1000 * batch / images_per_s
# for NYUv2; comm_ms_median for both): the step alone (forward, backward, collectives, update), no data
# loading, no evaluation. Needs a quiet machine with 2 free cores to mean anything.
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
toy=$build/apps/toy/gradnorm-toy
nyu=$build/apps/nyuv2/gradnorm-nyuv2
for bin in "$toy" "$nyu"; do
  [[ -x $bin ]] || { echo "error: $bin not built (cmake --build $build)" >&2; exit 1; }
done
command -v mpirun > /dev/null || { echo "error: mpirun not found (scripts/setup.sh installs OpenMPI)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$nyu" synth --out "$work/data" --train 64 --val 16 --height 48 --width 64 --seed 1 > /dev/null

# OMP_WAIT_POLICY is left as the caller sets it (unset: libgomp's default, spinning a while; best on a quiet
# machine, worst on a loaded one, where passive is better).
mpi=(mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS)
nyu_args=(train --data "$work/data" --model segnet --width-mult 0.125 --tasks seg,depth,normal --method gradnorm
  --steps 30 --batch 8 --eval-every 30 --lr 1e-3 --device cpu --quiet)

# One line from a run's summary.json: the toy reports step_ms_median, NYUv2 images_per_s (batch 8).
report() {  # report <summary.json> <app> <layout> <round>
  python3 - "$@" << 'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
step = s["step_ms_median"] if "step_ms_median" in s else 8000 / s["images_per_s"]
print(f"{sys.argv[2]:6} {sys.argv[3]} {sys.argv[4]} step_ms {step:.3f} comm_ms {s.get('comm_ms_median', 0):.3f} "
      f"world {s.get('world_size')}")
EOF
}

run_layout() {  # run_layout <app> <layout: 1x1, 1x2 or 2x1> <round>
  local app=$1 layout=$2 round=$3 out=$work/run
  rm -rf "$out"
  local -a launch=() threads=1
  case $layout in
    1x1) ;;
    1x2) threads=2 ;;
    2x1) launch=("${mpi[@]}") ;;
  esac
  export OMP_NUM_THREADS=$threads
  if [[ $app == nyu ]]; then
    "${launch[@]}" "$nyu" "${nyu_args[@]}" --threads "$threads" --out "$out" > /dev/null
  else
    "${launch[@]}" "$toy" --tasks "${app#toy}" --methods gradnorm --steps 2000 --batch 100 --device cpu \
      --threads "$threads" --out "$out" --quiet > /dev/null
  fi
  report "$out/gradnorm/summary.json" "$app" "$layout" "$round"
}

echo "# $(date -u +%FT%TZ) $(uname -n) nproc $(nproc) OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; ++r)); do
  for app in toy2 toy10 nyu; do
    for layout in 1x1 1x2 2x1; do run_layout "$app" "$layout" "$r"; done
  done
  echo "# round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
