#!/usr/bin/env bash
# apps/nyuv2/reproduce_tables.py end to end at a tiny size: both tables over two seeds (GradNorm static from
# each seed's GradNorm run; Table 2 on the stride-4 ResNet FCN, so keypoint heatmaps are area-downsampled),
# a resume that runs nothing again, and refused settings.
#   nyuv2_tables.sh <gradnorm-nyuv2 binary>
set -uo pipefail
BIN=$1
SCRIPT=$(dirname "$0")/../../apps/nyuv2/reproduce_tables.py
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { python3 "$SCRIPT" --app "$BIN" --out "$WORK/t" --seeds 1,2 --steps 2 --batch 2 --train 6 --val 3 \
  --height 32 --width 40 --width-mult 0.0625 --keypoints 2 --jobs 2 "$@"; }

run >"$WORK/first.log" 2>&1 || { cat "$WORK/first.log"; fail "the first run exited non-zero"; }
T=$WORK/t/tables.md
[[ -s $T ]] || fail "no tables.md"
grep -q "^## Table 1 (segnet" "$T" || fail "no Table 1"
grep -q "^## Table 2 (resnet-fcn" "$T" || fail "no Table 2 (thin ResNet FCN: keypoint targets area-downsampled to its stride-4 output)"
# Every row of both tables has numbers in its own task columns (single-task rows: one cell).
for row in "Depth only" "Seg only" "Normal only" "Keypoint only" "Equal weights" "Uncertainty (Kendall et al.)" \
  "GradNorm static" "GradNorm alpha = 1.5"; do
  grep -F "| $row |" "$T" | grep -qE "[0-9]\.[0-9]{4} \+- " || fail "row '$row' has no numbers"
done
[[ $(grep -cF "| GradNorm static |" "$T") == 2 ]] || fail "GradNorm static should be in both tables"
# GradNorm static was trained with the same seed's GradNorm E_t[w_i(t)].
for s in 1 2; do
  python3 - "$WORK/t/table1_segnet/seed_$s" <<'PY' || fail "seed $s: GradNorm static's weights are not GradNorm's mean weights"
import json, sys
d = sys.argv[1]
gn = json.load(open(f"{d}/gradnorm/gradnorm/summary.json"))["mean_weights"]
st = json.load(open(f"{d}/gradnorm_static/gradnorm-static/summary.json"))["final_weights"]
sys.exit(0 if max(abs(a - b) for a, b in zip(gn, st)) < 1e-12 * max(gn) else 1)
PY
done
grep -q "GradNorm vs equal weights [0-2]/2" "$T" || fail "no paired comparison over 2 seeds"
cp "$T" "$WORK/first.md"
# Resume: nothing runs again, the same table comes out.
run >"$WORK/second.log" 2>&1 || fail "the resumed run exited non-zero"
grep -q "exit" "$WORK/second.log" && fail "the resumed run trained again: $(grep exit "$WORK/second.log" | head -1)"
cmp -s "$T" "$WORK/first.md" || fail "the resumed run changed tables.md"
# Refusals, before anything runs.
run --tables 3 >"$WORK/bad.log" 2>&1 && fail "--tables 3 was accepted"
grep -q "takes 1 and/or 2" "$WORK/bad.log" || fail "--tables 3: unclear message: $(cat "$WORK/bad.log")"
python3 "$SCRIPT" --app "$WORK/nope" --out "$WORK/u" >"$WORK/bad2.log" 2>&1 && fail "a missing app was accepted"
grep -q "not an executable" "$WORK/bad2.log" || fail "missing app: unclear message"
[[ -e $WORK/u ]] && fail "a refused run created its output folder"
echo "nyuv2_tables: ok"
