#!/usr/bin/env bash
# Data-parallel GradNorm is exact: gradnorm-toy on 2 and 3 MPI ranks (global batch 96, each rank its slice
# of 48 or 32 rows) reproduces the 1-rank run on the whole batch, within rounding, and every rank ends
# with the same bits.
#   toy_data_parallel.sh <gradnorm-toy> <mpirun> [mpirun flags...]
#
# What is checked, per world size N in {2, 3} against N = 1:
#   - summary.json: world_size N, status finished, replicas_identical (the app compares every rank's final
#     parameters and weights with rank 0's bit for bit, and exits non-zero if any differs);
#   - every metrics row (log every step): weights (absolute, over their sum T), train and test losses and
#     per-task gradient norms at W (relative) within TIGHT; with adam over steps 1..100, with sgd over all
#     200 steps (sgd also catches a wrong gradient scale, which adam's normalisation would hide);
#   - adam's final and mean weights (absolute) and final test losses (relative) within LOOSE;
#   - 2 ranks with 10 KB gradient buckets (many) give bitwise the numbers of one 25 MiB bucket.
#
# The tolerances. One step's difference is float32 sum order only: the 1-rank GEMM sums the batch's 96
# rows in one order, the N ranks sum 96/N rows each and then add the N partial sums in rank order; both
# are float32 sums of the same terms, differing by O(eps_f32 sqrt(B)) ~ 6e-8 * 10 = 6e-7 relative at most
# (typically less: rounding errors partly cancel). Measured on step 1: gradient norms 5e-9 (N=2) and 4e-8
# (N=3) relative, losses identical. Through the training these differences are carried, not reset:
# measured at most 6.4e-7 over adam's first 100 steps and 3.0e-7 over sgd's 200; TIGHT = 1e-5 (15x margin).
# GradNorm with adam is a bang-bang controller (dL_grad/dw_i = sign(G_i - target_i) g_i, then adam's
# normalised step), and its weights oscillate between the floor and ~0.08 for the small task: a
# difference of 1e-8 grows about e^(0.06 t) (measured: w 1e-7 absolute at step 100, 1.6e-4 at step 150,
# 3.1e-4 at step 200 for N=2; N=3 stays at 1e-6 by luck). That is sensitivity of the method, not a
# reduction error, so the trajectory is compared tightly up to step 100 and the end of the run with
# LOOSE = 5e-3 (measured 1.6e-4: weights 3.1e-4 absolute / T, test losses 1.5e-4 relative; 30x margin). A missing or
# wrong reduction is far outside either: without the per-task W reduction each rank's G_i differs by
# ~1/sqrt(B/N) (tens of percent) from step 1, and the replicas split (replicas_identical fails).
set -euo pipefail
toy=$1
shift
mpirun=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1

run() {  # run <name> <np> <extra args...>
  local name=$1 np=$2
  shift 2
  local args=(--tasks 2 --methods gradnorm --steps 200 --batch 96 --train-size 960 --test-size 200 --log-every 1
    --quiet --device cpu --out "$work/$name" "$@")
  if ((np == 1)); then
    "$toy" "${args[@]}" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  else
    "${mpirun[@]}" -np "$np" "$toy" "${args[@]}" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  fi
}

for opt in adam sgd; do
  extra=()
  [[ $opt == sgd ]] && extra=(--optimizer sgd --lr 0.01)
  for np in 1 2 3; do run "${opt}_np$np" "$np" "${extra[@]}"; done
done
# Small buckets (10 KB: the toy's 65,500 network gradients in ~27 buckets) change nothing: each element is
# still summed once, in rank order, so the run is bitwise the one-bucket run.
run adam_np2_buckets 2 --bucket-mb 0.01

python3 - "$work" <<'PY'
import csv, json, sys
work = sys.argv[1]
TIGHT, LOOSE, T = 1e-5, 5e-3, 2
fail = []

def summary(name):
    return json.load(open(f"{work}/{name}/gradnorm/summary.json"))

def rows(name):
    return list(csv.DictReader(open(f"{work}/{name}/metrics.csv")))

def diff(col, a, b):  # weights: absolute over their sum T; everything else relative
    return abs(b - a) / T if col.startswith("w_") else abs(b - a) / max(abs(a), 1e-30)

for opt, last_tight in (("adam", 100), ("sgd", 200)):
    ref_rows, ref = rows(f"{opt}_np1"), summary(f"{opt}_np1")
    if ref["world_size"] != 1:
        fail.append(f"{opt} np1: world_size {ref['world_size']}")
    for np in (2, 3):
        name = f"{opt}_np{np}"
        s, got_rows = summary(name), rows(name)
        if s["world_size"] != np or s["status"] != "finished" or s.get("replicas_identical") is not True:
            fail.append(f"{name}: world_size {s['world_size']}, status {s['status']}, "
                        f"replicas_identical {s.get('replicas_identical')}")
        worst = (0.0, "")
        for ra, rb in zip(ref_rows, got_rows):
            step = int(ra["step"])
            if step == 0 or step > last_tight:
                continue
            for col in ra:
                if col[:2] in ("w_",) or col.split("_")[0] in ("train", "test", "grad"):
                    a, b = float(ra[col]), float(rb[col])
                    if a != a and b != b:
                        continue
                    d = diff(col, a, b)
                    if not d <= worst[0]:
                        worst = (d, f"step {step} {col}: {a} vs {b}")
        print(f"{name}: steps 1..{last_tight}: largest difference {worst[0]:.3g} ({worst[1]})")
        if not worst[0] <= TIGHT:
            fail.append(f"{name}: steps 1..{last_tight} differ by {worst[0]:.3g} > {TIGHT} at {worst[1]}")
        if opt == "adam":
            end = 0.0
            for key in ("final_weights", "mean_weights", "final_test_losses"):
                for a, b in zip(ref[key], s[key]):
                    end = max(end, diff("w_" if "weights" in key else "loss", a, b))
            print(f"{name}: end of the run: largest difference {end:.3g}")
            if not end <= LOOSE:
                fail.append(f"{name}: final numbers differ by {end:.3g} > {LOOSE}")
one, many = summary("adam_np2"), summary("adam_np2_buckets")
for key in ("final_weights", "mean_weights", "final_test_losses", "initial_test_losses"):
    if one[key] != many[key]:
        fail.append(f"--bucket-mb 0.01 changed {key}: {one[key]} vs {many[key]}")
if rows("adam_np2") != rows("adam_np2_buckets"):
    fail.append("--bucket-mb 0.01 changed metrics.csv")
print("adam_np2 with 10 KB buckets: bitwise the one-bucket run" if not fail or "bucket" not in fail[-1] else "")
if fail:
    print("FAIL:\n  " + "\n  ".join(fail))
    sys.exit(1)
print("OK")
PY
