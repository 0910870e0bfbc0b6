#!/usr/bin/env bash
# The sweeps end to end at a tiny size, with the toy app as the child: grid (then a resume that has
# nothing left to run), alpha and seeds, and the refusals that must come before any run starts.
# With a third argument, the NYUv2 app too (grid and alpha over `gradnorm-nyuv2 train` on tiny synthetic scenes).
#   gridsearch_e2e.sh <gradnorm-gridsearch> <gradnorm-toy> [<gradnorm-nyuv2>]
set -euo pipefail
sweep="$1"
toy="$2"
nyuv2="${3:-}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
app=("$toy" --tasks 3 --steps 20 --train-size 200 --test-size 100 --log-every 10 --threads 1)
fail() { echo "FAIL: $*"; exit 1; }

"$sweep" grid --out "$dir/grid" --networks 4 --jobs 2 -- "${app[@]}" >"$dir/grid.txt"
cat "$dir/grid.txt"
[ "$(wc -l <"$dir/grid/gridsearch.csv")" -eq 5 ] || fail "gridsearch.csv should have a header and 4 rows"
grep -q '"pearson_distance_change"' "$dir/grid/summary.json" || fail "no correlation in summary.json"
grep -q "correlation of distance and change" "$dir/grid.txt" || fail "no correlation printed"

# Resume of a finished sweep: nothing runs again, the same table comes out.
cp "$dir/grid/gridsearch.csv" "$dir/first.csv"
"$sweep" grid --out "$dir/grid" --networks 4 --jobs 2 --resume -- "${app[@]}" >"$dir/resume.txt"
grep -q "running" "$dir/resume.txt" && fail "a resume of a finished sweep ran something"
cmp "$dir/grid/gridsearch.csv" "$dir/first.csv" || fail "the resumed table differs"
# Resume of a partly finished sweep: remove one network's output; only that one runs again.
rm -rf "$dir/grid/runs/0002"
"$sweep" grid --out "$dir/grid" --networks 4 --jobs 2 --resume -- "${app[@]}" >"$dir/partial.txt"
grep -q "running 1 runs" "$dir/partial.txt" || fail "the partial resume should run exactly one network"
cmp "$dir/grid/gridsearch.csv" "$dir/first.csv" || fail "the rerun network gave different numbers"

# Refusals, before anything runs (exit status 2, a message naming the problem).
expect_refusal() {  # <pattern> <command...>
  local pattern="$1"
  shift
  if "$@" >"$dir/out.txt" 2>&1; then fail "accepted: $*"; fi
  grep -q "$pattern" "$dir/out.txt" || { cat "$dir/out.txt"; fail "no '$pattern' in the message of: $*"; }
}
expect_refusal "already holds a sweep" "$sweep" grid --out "$dir/grid" --networks 4 -- "${app[@]}"
# A resume may add networks (network k's weights depend only on the seed and k): only the new one runs, the
# first four rows are unchanged; it may not take them away.
"$sweep" grid --out "$dir/grid" --networks 5 --jobs 2 --resume -- "${app[@]}" >"$dir/grow.txt"
grep -q "running 1 runs" "$dir/grow.txt" || { cat "$dir/grow.txt"; fail "growing to 5 networks should run exactly one"; }
[ "$(wc -l <"$dir/grid/gridsearch.csv")" -eq 6 ] || fail "the grown gridsearch.csv should have 5 rows"
cmp <(head -5 "$dir/grid/gridsearch.csv") "$dir/first.csv" || fail "growing the sweep changed its first networks"
grep -q '"networks": 5' "$dir/grid/sweep.json" || fail "sweep.json does not record the grown count"
expect_refusal "networks = 5.*add to it, not take away" "$sweep" grid --out "$dir/grid" --networks 4 --resume -- "${app[@]}"
expect_refusal "seed = 1" "$sweep" grid --out "$dir/grid" --networks 5 --seed 2 --resume -- "${app[@]}"
expect_refusal "holds no sweep" "$sweep" grid --out "$dir/nothing" --networks 4 --resume -- "${app[@]}"
expect_refusal "command" "$sweep" grid --out "$dir/nocmd" --networks 4
expect_refusal "not a finite number" "$sweep" alpha --out "$dir/badalpha" --alphas 0,x -- "${app[@]}"

"$sweep" alpha --out "$dir/alpha" --alphas 0,1.5 --jobs 2 -- "${app[@]}"
[ "$(wc -l <"$dir/alpha/alpha.csv")" -eq 3 ] || fail "alpha.csv should have a header and 2 rows"
[ -f "$dir/alpha/alpha_1.5/metrics.csv" ] || fail "no weight trace for alpha 1.5"

"$sweep" seeds --out "$dir/seeds" --seeds 1,2 --methods equal,gradnorm --jobs 2 -- "${app[@]}"
[ "$(wc -l <"$dir/seeds/seeds.csv")" -eq 5 ] || fail "seeds.csv should have a header and 4 rows"
grep -q '"paired_wins"' "$dir/seeds/summary.json" || fail "no paired wins"

# A failing child is reported and makes the sweep exit non-zero (here: an unknown method).
if "$sweep" seeds --out "$dir/badseeds" --seeds 1 --methods nonsense -- "${app[@]}" >"$dir/bad.txt" 2>&1; then
  fail "a sweep whose runs fail exited 0"
fi
grep -q "exit status" "$dir/bad.txt" || { cat "$dir/bad.txt"; fail "the failing run was not reported"; }

# The figures, when matplotlib is there (setup.sh installs it).
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  here=$(cd "$(dirname "$0")/../.." && pwd)
  for s in grid alpha seeds; do /usr/bin/python3 "$here/apps/gridsearch/plot_sweeps.py" "$dir/$s"; done
  [ -f "$dir/grid/figure4.png" ] && [ -f "$dir/alpha/figure5.png" ] || fail "figures missing"
fi
# The NYUv2 app follows the same sweep protocol: a grid (three tasks) and an alpha sweep on tiny scenes.
if [ -n "$nyuv2" ]; then
  "$nyuv2" synth --out "$dir/nyu" --train 8 --val 4 --height 32 --width 40 --seed 3 >/dev/null
  nyu=("$nyuv2" train --data "$dir/nyu" --width-mult 0.0625 --tasks seg,depth,normal --steps 3 --batch 2 \
    --eval-every 3 --device cpu --threads 1 --lr 1e-3)
  "$sweep" grid --out "$dir/nyugrid" --networks 3 --jobs 2 -- "${nyu[@]}" >"$dir/nyugrid.txt" ||
    { cat "$dir/nyugrid.txt"; fail "the NYUv2 grid failed"; }
  [ "$(wc -l <"$dir/nyugrid/gridsearch.csv")" -eq 4 ] || fail "NYUv2 gridsearch.csv should have a header and 3 rows"
  grep -q "3 of 3 networks finished" "$dir/nyugrid.txt" || fail "NYUv2 grid: not every network finished"
  grep -q '"pearson_distance_change"' "$dir/nyugrid/summary.json" || fail "NYUv2 grid: no correlation"
  "$sweep" alpha --out "$dir/nyualpha" --alphas 0,1.5 --jobs 2 -- "${nyu[@]}" >"$dir/nyualpha.txt" ||
    { cat "$dir/nyualpha.txt"; fail "the NYUv2 alpha sweep failed"; }
  [ -f "$dir/nyualpha/alpha.csv" ] || fail "NYUv2 alpha sweep: no alpha.csv"
fi
echo "gridsearch e2e: OK"
