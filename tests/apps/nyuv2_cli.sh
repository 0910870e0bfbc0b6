#!/usr/bin/env bash
# gradnorm-nyuv2's command line: bad input is refused with exit status 2 before any work (nothing written),
# and synth -> train -> eval --dump-predictions -> report works end to end with a tiny model; the dump
# draws a figure with apps/nyuv2/plot_predictions.py (skipped, saying so, when $PYTHON, default
# /usr/bin/python3, has no numpy or matplotlib), which refuses a missing file or a wrong shape.
# Usage: nyuv2_cli.sh PATH/TO/gradnorm-nyuv2   (registered with ctest as apps.nyuv2_cli)
set -euo pipefail
BIN=${1:?usage: nyuv2_cli.sh PATH/TO/gradnorm-nyuv2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gn_nyuv2_cli.XXXXXX")
trap 'chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT
fail() { echo "nyuv2_cli: FAIL: $*" >&2; exit 1; }

expect() {  # expect STATUS PATTERN ARGS...: the exit status and a pattern of the combined output
  local want=$1 pattern=$2; shift 2
  set +e; out=$("$BIN" "$@" 2>&1); got=$?; set -e
  [[ $got == "$want" ]] || fail "'$*' exited $got, expected $want: $out"
  [[ -z $pattern ]] || grep -qiE -- "$pattern" <<<"$out" || fail "'$*' did not print /$pattern/: $out"
}

D=$WORK/data
expect 0 "Usage|usage" --help
expect 0 "--tasks" train --help
expect 2 "" bogus-subcommand
expect 0 "wrote 6 train" synth --out "$D" --train 6 --val 3 --height 32 --width 40 --seed 2
expect 2 "train.*not in|is not in" synth --out "$WORK/x" --train 0
TR=(train --data "$D" --width-mult 0.0625 --batch 2 --eval-every 2 --device cpu --threads 1 --quiet --lr 1e-3)
expect 2 "unknown.*task|task.*unknown|bogus" "${TR[@]}" --out "$WORK/r0" --tasks seg,bogus --steps 2
[[ ! -e $WORK/r0 ]] || fail "a refused run created its --out"
expect 2 "steps" "${TR[@]}" --out "$WORK/r0" --steps 0
expect 2 "no such directory" train --data "$WORK/missing" --out "$WORK/r0" --steps 2
expect 2 "unknown method" "${TR[@]}" --out "$WORK/r0" --steps 2 --method nope
expect 2 "static-weights" "${TR[@]}" --out "$WORK/r0" --steps 2 --method static
expect 2 "listed twice" "${TR[@]}" --out "$WORK/r0" --steps 2 --tasks seg,seg
expect 2 "--tasks: .seg,,depth. has an empty item" "${TR[@]}" --out "$WORK/r0" --steps 2 --tasks seg,,depth
expect 2 "batch" "${TR[@]}" --out "$WORK/r0" --steps 2 --batch 100
[[ ! -e $WORK/r0 ]] || fail "a refused run created its --out"
if [[ $(id -u) != 0 ]]; then  # root can write anywhere
  mkdir "$WORK/ro" && chmod a-w "$WORK/ro"
  expect 2 "ro" "${TR[@]}" --out "$WORK/ro/run" --steps 2
fi

expect 0 "score" "${TR[@]}" --out "$WORK/run" --steps 4 --methods equal --checkpoint-every 2 --seed 1
for f in run.json metrics.csv equal/summary.json equal/checkpoints/ckpt-4.safetensors; do
  [[ -f $WORK/run/$f ]] || fail "train did not write $f"
done
grep -q '"status": "finished"' "$WORK/run/equal/summary.json" || fail "summary status"
head -1 "$WORK/run/metrics.csv" | grep -q '^method,step,w_0,w_1,w_2' || fail "metrics.csv header"
expect 0 "seg_miou" eval --data "$D" --checkpoint "$WORK/run/equal/checkpoints/ckpt-4.safetensors" \
  --out "$WORK/ev" --dump-predictions --device cpu
for t in seg depth normal; do [[ -f $WORK/ev/pred/$t/0.npy ]] || fail "no pred/$t/0.npy"; done

# The qualitative figure (apps/nyuv2/plot_predictions.py) from that dump, and its refusals.
PY=${PYTHON:-/usr/bin/python3}
PLOT=$(cd "$(dirname "$0")/../../apps/nyuv2" && pwd)/plot_predictions.py
if "$PY" -c 'import numpy, matplotlib' 2>/dev/null; then
  out=$("$PY" "$PLOT" --data "$D" "$WORK/ev" "$WORK/ev" --labels a,b --count 2 --out "$WORK/pred.png" 2>&1) ||
    fail "plot_predictions.py failed: $out"
  [[ -s $WORK/pred.png ]] || fail "plot_predictions.py wrote no figure"
  [[ $(head -c 8 "$WORK/pred.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "pred.png is not a PNG"
  plot_refused() {  # plot_refused PATTERN ARGS...: a non-zero exit and a message matching PATTERN
    local pattern=$1; shift
    set +e; out=$("$PY" "$PLOT" --data "$D" "$@" --out "$WORK/bad.png" 2>&1); got=$?; set -e
    [[ $got != 0 ]] || fail "plot_predictions.py $* exited 0"
    grep -qE -- "$pattern" <<<"$out" || fail "plot_predictions.py $* did not print /$pattern/: $out"
    [[ ! -e $WORK/bad.png ]] || fail "a refused plot wrote its figure"
  }
  cp -r "$WORK/ev" "$WORK/ev_missing" && rm "$WORK/ev_missing/pred/depth/1.npy"
  plot_refused "missing file .*ev_missing/pred/depth/1\.npy" "$WORK/ev" "$WORK/ev_missing" --count 2
  cp -r "$WORK/ev" "$WORK/ev_shape" && "$PY" -c "import numpy; numpy.save('$WORK/ev_shape/pred/normal/0.npy', numpy.zeros((4, 5, 3), numpy.float32))"
  plot_refused "ev_shape/pred/normal/0\.npy: shape \(4, 5, 3\) disagrees" "$WORK/ev_shape" --count 1
  # Keypoint heatmaps at 1/4 of the image (the ResNet FCN's) are drawn as 4x4 blocks; other sizes refused.
  mkdir -p "$WORK/kd/val/image" "$WORK/kd/val/keypoint" "$WORK/kp/pred/keypoint" "$WORK/kp_bad/pred/keypoint"
  "$PY" -c "
import numpy as np
np.save('$WORK/kd/val/image/0.npy', np.zeros((16, 24, 3), np.uint8))
np.save('$WORK/kd/val/keypoint/0.npy', np.zeros((2, 16, 24), np.float32))
np.save('$WORK/kp/pred/keypoint/0.npy', np.ones((2, 4, 6), np.float32))
np.save('$WORK/kp_bad/pred/keypoint/0.npy', np.ones((2, 4, 8), np.float32))"
  out=$("$PY" "$PLOT" --data "$WORK/kd" "$WORK/kp" --count 1 --out "$WORK/kp.png" 2>&1) ||
    fail "plot_predictions.py refused stride-4 keypoint heatmaps: $out"
  [[ -s $WORK/kp.png ]] || fail "plot_predictions.py wrote no keypoint figure"
  plot_refused "kp_bad/pred/keypoint/0\.npy: shape \(2, 4, 8\) disagrees" "$WORK/kp_bad" --count 1 --data "$WORK/kd"
else
  echo "nyuv2_cli: SKIPPED the plot_predictions.py check: $PY cannot import numpy and matplotlib"
fi
expect 0 "\| equal \|" report "$WORK/run" --out "$WORK/table.md"
[[ -s $WORK/table.md ]] || fail "report --out"
expect 2 "summary" report "$WORK/missing"
echo "nyuv2_cli: ok"
