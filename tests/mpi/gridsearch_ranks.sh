#!/usr/bin/env bash
# gradnorm-gridsearch with data-parallel children: the command after `--` may itself be an mpirun line, so
# every run of a sweep is an N-rank job (the sweep appends its own flags, which mpirun passes to the app).
#   gridsearch_ranks.sh <gradnorm-gridsearch> <gradnorm-toy> <mpirun> [mpirun flags...]
# Checks: a 2-network grid whose runs are 2-rank jobs finishes; every run's summary.json says world_size 2;
# and the sweep's numbers (gridsearch.csv: distances, changes, per-task errors) match the same sweep with
# 1-rank children within 1e-4 relative (50 toy steps: float32 sum-order differences of the split batch only,
# ~1e-7; tests/mpi/toy_data_parallel.sh says why), so the ranks really trained the same runs.
set -euo pipefail
gridsearch=$1
toy=$2
shift 2
mpirun=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
child=(--tasks 3 --steps 50 --batch 96 --train-size 960 --test-size 200 --threads 1 --device cpu)

"$gridsearch" grid --out "$work/one" --networks 2 --jobs 1 -- "$toy" "${child[@]}" > "$work/one.log" 2>&1 ||
  { cat "$work/one.log"; exit 1; }
"$gridsearch" grid --out "$work/two" --networks 2 --jobs 1 -- "${mpirun[@]}" -np 2 "$toy" "${child[@]}" \
  > "$work/two.log" 2>&1 || { cat "$work/two.log"; exit 1; }
grep -q "2 of 2 networks finished" "$work/two.log" || { cat "$work/two.log"; exit 1; }

python3 - "$work" << 'PY'
import csv, glob, json, math, sys
work = sys.argv[1]
summaries = glob.glob(f"{work}/two/runs/*/*/summary.json") + glob.glob(f"{work}/two/reference/*/summary.json")
assert len(summaries) == 3, f"expected 3 runs (2 static, 1 GradNorm), found {summaries}"
for p in summaries:
    s = json.load(open(p))
    assert s["world_size"] == 2, f"{p}: world_size {s['world_size']}, expected 2"
for p in glob.glob(f"{work}/one/runs/*/*/summary.json"):
    assert json.load(open(p))["world_size"] == 1, p
one = list(csv.DictReader(open(f"{work}/one/gridsearch.csv")))
two = list(csv.DictReader(open(f"{work}/two/gridsearch.csv")))
assert len(one) == len(two) == 2
for a, b in zip(one, two):
    for key in a:
        if key == "network" or key.startswith("w_"):
            assert a[key] == b[key], f"{key}: {a[key]} vs {b[key]} (the static weights must be the same)"
            continue
        x, y = float(a[key]), float(b[key])
        tol = 1e-4 * max(1.0, abs(x)) if key == "change_pct" else 1e-4 * abs(x)
        assert math.isfinite(y) and abs(x - y) <= tol, f"network {a['network']} {key}: 1 rank {x}, 2 ranks {y}"
print("gridsearch with 2-rank children: 3 runs at world size 2, sweep numbers match 1 rank")
PY
