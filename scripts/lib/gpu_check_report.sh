# shellcheck shell=bash
# Bookkeeping for scripts/gpu_check.sh (sourced, not run): the step table, the time budget, summary.md
# and results.tgz. Expects from the caller: out (OUT_DIR), work (the folder the logs go to), root,
# profile, budget, start.
#
# OUT_DIR only ever holds summary.md and results.tgz (the device tool brings back at most 8 files): every
# log and result goes to $work, and pack() tars it into OUT_DIR/results.tgz after each step, so a run cut
# short still leaves both files.

steps=() results=() notes=()
failed=0
declare -A facts=()
memcheck_rows=()
bench_files=()
test_counts="not run"
not_in_profile=""  # "tests" / "memcheck" when the profile leaves them out
skip_notes=""

log() { printf '[gpu_check %4ds] %s\n' "$(($(date +%s) - start))" "$*"; }
elapsed() { echo $(($(date +%s) - start)); }

record() {  # <step> <PASS|FAIL|SKIP|INFO> <note>
  steps+=("$1") results+=("$2") notes+=("$3")
  [[ $2 == FAIL ]] && failed=1
  log "$1: $2${3:+ - $3}"
  write_summary
  pack
}

# Seconds a step may take: its own limit, capped by what is left of the budget (0: nothing left).
limit_for() {
  local want=$1
  ((budget > 0)) || { echo "$want"; return; }
  local left=$((budget - $(elapsed)))
  ((left < want)) && want=$left
  ((want > 0)) && echo "$want" || echo 0
}
# A step left out for lack of time is a failure: the check is incomplete and must not pass.
out_of_time() { echo "not run: the time budget (${budget} s) was spent"; }

# Runs a command under `timeout`, output appended to a log; returns its status (124: timed out). The
# command runs in the background and is waited for, so a TERM to this script is handled at once.
child=""
run_logged() {  # <seconds> <logfile> <cmd...>
  local secs=$1 logf=$2
  shift 2
  echo "+ $*" >>"$logf"
  timeout --kill-after=10 "$secs" "$@" >>"$logf" 2>&1 &
  child=$!
  wait "$child"
  local rc=$?
  child=""
  return "$rc"
}

# conv2d at batch 24 on this GPU, gradnorm (bench_conv_cuda.json) against PyTorch (conv_torch_cuda.json),
# both through cuDNN: one markdown table when both files are there (nothing otherwise).
conv_table() {
  [[ -s $work/bench_conv_cuda.json && -s $work/conv_torch_cuda.json ]] || return 0
  "${py:-python3}" - "$work/bench_conv_cuda.json" "$work/conv_torch_cuda.json" 2>/dev/null <<'PY' || true
import json, sys
gn = {b["name"].replace("/real_time", ""): b for b in json.load(open(sys.argv[1]))["benchmarks"]
      if not b.get("error_occurred") and b.get("run_type", "iteration") == "iteration"}
th = json.load(open(sys.argv[2]))
rows = {}
for r in th["rows"]:
    rows.setdefault(r["name"], {})[r.get("deterministic", False)] = r["ms"]
print("conv2d, batch 24, float32 (ms per call; PyTorch with cudnn.benchmark off, TF32 off):\n")
print("| case | gradnorm ms | GFLOP/s | torch ms (deterministic) | torch ms (default) | gradnorm / torch det. |")
print("|---|---|---|---|---|---|")
for name, t in rows.items():
    g = gn.get(name)
    gms = g["real_time"] if g else None  # Unit(kMillisecond)
    det, nondet = t.get(True), t.get(False)
    f = lambda v: f"{v:.3f}" if v is not None else "-"
    ratio = f"{gms / det:.2f}x" if gms and det else "-"
    rate = "%.0f" % g["GFLOPs"] if g else "-"  # a rate counter: already GFLOP per second
    print(f"| {name} | {f(gms)} | {rate} | {f(det)} | {f(nondet)} | {ratio} |")
print()
PY
}

# The NYUv2 SegNet step at the paper's scale on this GPU (full SegNet, 288x384, batch 24, float32): ours
# (nyuv2_step_cuda.json: equal step; GradNorm over equal, paired) against PyTorch eager
# (nyuv2_torch_cuda.json): a few lines when either file has a result (nothing otherwise).
segnet_table() {
  [[ -s $work/nyuv2_step_cuda.json || -s $work/nyuv2_torch_cuda.json ]] || return 0
  "${py:-python3}" - "$work/nyuv2_step_cuda.json" "$work/nyuv2_torch_cuda.json" 2>/dev/null <<'PY' || true
import json, sys
def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None
gn, th = load(sys.argv[1]), load(sys.argv[2])
rows = [b for b in (gn or {}).get("benchmarks", []) if not b.get("error_occurred")]
eq = next((b for b in rows if b["name"].startswith("BM_SegNetStepCuda/equal")), None)
pair = next((b for b in rows if b["name"].startswith("BM_SegNetStepPairedCuda")), None)
f = lambda v: f"{v:.1f}" if v is not None else "-"
tms = th.get("step_ms_median") if th else None
if not (eq or pair or tms):
    sys.exit(0)
print("NYUv2 SegNet step on this GPU (full SegNet, 288x384, batch 24, float32, seg/depth/normals, Adam):\n")
print("| | ms per step | note |")
print("|---|---|---|")
if eq:
    print(f"| gradnorm, equal weighting | {f(eq['real_time'])} | {eq['iterations']} steps, mean; params {int(eq.get('params', 0))} |")
if pair:
    print(f"| gradnorm, paired equal / GradNorm | {f(pair.get('equal_ms'))} / {f(pair.get('gradnorm_ms'))} | "
          f"GradNorm over equal {pair.get('gradnorm_over_equal', float('nan')):.3f} (median of {pair['iterations']} pairs) |")
if th:
    print(f"| PyTorch {th.get('torch')} eager, equal | {f(tms)} | median of {th.get('repeats')} x {th.get('steps')} steps; "
          f"cudnn.benchmark on, TF32 {'on' if th.get('tf32') else 'off'}; params {th.get('params')} |")
if eq and tms:
    print(f"\nours / PyTorch (equal): {eq['real_time'] / tms:.2f}x")
print()
PY
}

write_summary() {
  local i
  {
    echo "# gradnorm GPU check: profile \`$profile\`"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(elapsed) s of a ${budget} s budget, \`GN_PROFILE=$profile bash scripts/gpu_check.sh\` in $root"
    echo
    echo "## Machine"
    echo
    echo "| | |"
    echo "|---|---|"
    for k in "GPU" "driver" "CUDA (driver)" "nvcc" "compute-sanitizer" "cuBLAS" "cuDNN" "NCCL" "torch" \
      "host compiler" "cmake" "generator" "CUDA architectures" "OS" "glibc" "CPU" "GTest used"; do
      [[ -n ${facts[$k]:-} ]] && echo "| $k | ${facts[$k]//|/\\|} |"
    done
    echo
    echo "## Steps"
    echo
    echo "| step | result | note |"
    echo "|---|---|---|"
    for i in "${!steps[@]}"; do
      echo "| ${steps[$i]} | ${results[$i]} | ${notes[$i]//|/\\|} |"
    done
    echo
    echo "## Tests (ctest, GN_REQUIRE_CUDA=1)"
    echo
    [[ $not_in_profile == *tests* ]] && echo "not in profile $profile" || echo "$test_counts"
    [[ -n $skip_notes ]] && printf '\n%s\n' "$skip_notes"
    echo
    echo "## compute-sanitizer memcheck"
    echo
    if ((${#memcheck_rows[@]})); then
      echo "| binary | gtest filter | exit | ERROR SUMMARY | gtest |"
      echo "|---|---|---|---|---|"
      printf '%s\n' "${memcheck_rows[@]}"
    else
      [[ $not_in_profile == *memcheck* ]] && echo "not in profile $profile" || echo "not run"
    fi
    echo
    echo "## Benchmarks, kernel labs, PyTorch"
    echo
    if ((${#bench_files[@]})); then
      printf -- '- %s\n' "${bench_files[@]}"
      echo
      conv_table
      segnet_table
      echo "Numbers worth keeping go to benchmarks/RESULTS.md with the machine above and the command."
    else
      echo "none run"
    fi
    echo
    echo "## Files"
    echo
    echo "results.tgz (beside this file) unpacks to gpu-results/:"
    echo
    (cd "$work" && find . -type f ! -name summary.md | sed 's|^\./||' | sort | sed 's/^/    /')
    echo
    echo "Overall: $( ((failed)) && echo FAILED || echo PASSED)"
  } >"$work/../summary.md.tmp" && cp "$work/../summary.md.tmp" "$work/summary.md" &&
    mv -f "$work/../summary.md.tmp" "$out/summary.md"
}

# results.tgz = the work folder, re-made after every step (a few MB at most: cheap). Logs over 4 MiB keep
# their last 4 MiB, so the tarball stays far below the tool's 16 MiB per file.
pack() {
  local f
  for f in "$work"/*.log; do
    [[ -f $f ]] || continue
    if (($(stat -c %s "$f") > 4 * 1024 * 1024)); then
      { echo "[gpu_check: cut to its last 4 MiB]"; tail -c $((4 * 1024 * 1024)) "$f"; } >"$f.cut" && mv -f "$f.cut" "$f"
    fi
  done
  tar -C "$work/.." -czf "$work/../results.tgz.tmp" "$(basename "$work")" 2>/dev/null &&
    mv -f "$work/../results.tgz.tmp" "$out/results.tgz"
}

# TERM/INT (the device tool ending the call, ^C): stop the running step, record it, write both files.
on_signal() {
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null
  trap - TERM INT
  record interrupted FAIL "got SIG$1 at $(elapsed) s: steps after this were not run"
  exit 143
}
