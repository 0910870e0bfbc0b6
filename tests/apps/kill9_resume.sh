#!/usr/bin/env bash
# kill -9 then --resume equals an uninterrupted run: runs a short toy once uninterrupted, once killed with
# SIGKILL at a random moment after its first checkpoint exists and then resumed, and compares metrics.csv
# byte for byte and every summary.json field but the timing (step_ms_median) and the run id.
# Usage: kill9_resume.sh PATH/TO/gradnorm-toy   (registered with ctest as apps.kill9_resume)
set -euo pipefail
BIN=${1:?usage: kill9_resume.sh PATH/TO/gradnorm-toy}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gn_kill9.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ARGS=(--tasks 2 --methods gradnorm --steps 600 --checkpoint-every 50 --log-every 50 --device cpu --quiet
      --train-size 2000 --test-size 500 --threads 1)
fail() { echo "kill9_resume: FAIL: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

t0=$(now_ms)
"$BIN" "${ARGS[@]}" --out "$WORK/ref" >"$WORK/ref.log" 2>&1 || fail "the uninterrupted run failed: $(cat "$WORK/ref.log")"
ref_ms=$(($(now_ms) - t0))

"$BIN" "${ARGS[@]}" --out "$WORK/run" >"$WORK/run.log" 2>&1 &
pid=$!
ckpts="$WORK/run/gradnorm/checkpoints"
until compgen -G "$ckpts/ckpt-*.safetensors" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || break  # finished (or died) before we saw a checkpoint
  sleep 0.005
done
# A random moment in the rest of the run (the reference took ref_ms in all).
delay_ms=$((RANDOM % (ref_ms * 3 / 4 + 1)))
sleep "$(printf '0.%03d' $((delay_ms % 1000)))"
sleep $((delay_ms / 1000))
if kill -KILL "$pid" 2>/dev/null; then killed=yes; else killed=no; fi
wait "$pid" 2>/dev/null || true
echo "kill9_resume: reference ${ref_ms} ms; SIGKILL ${delay_ms} ms after the first checkpoint (delivered: $killed);" \
  "checkpoints then: $(ls "$ckpts" 2>/dev/null | tr '\n' ' ')"

"$BIN" "${ARGS[@]}" --out "$WORK/run" --resume >"$WORK/resume.log" 2>&1 ||
  fail "the resumed run failed: $(cat "$WORK/resume.log")"
grep -h "resumed at step" "$WORK/resume.log" || echo "kill9_resume: (the killed run had finished training)"

cmp "$WORK/ref/metrics.csv" "$WORK/run/metrics.csv" || {
  diff "$WORK/ref/metrics.csv" "$WORK/run/metrics.csv" | head -20 >&2
  fail "metrics.csv differs"
}
strip() { grep -v -e '"step_ms_median"' -e '"run_id"' "$1"; }
diff <(strip "$WORK/ref/gradnorm/summary.json") <(strip "$WORK/run/gradnorm/summary.json") >&2 ||
  fail "summary.json differs (beyond step_ms_median and run_id)"
[[ -f "$WORK/run/run.json" ]] || fail "the resumed run wrote no run.json"
echo "kill9_resume: OK: metrics.csv and summary.json equal the uninterrupted run's"
