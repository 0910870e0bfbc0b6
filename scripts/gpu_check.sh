#!/usr/bin/env bash
# The GPU machine's check, sized for one device call (the device tool cuts a call at 600 s, gives the
# machine back soon after, and every new call pays a fresh start and a fresh build):
#
#   GN_PROFILE=tests bash scripts/gpu_check.sh OUT_DIR   # build tests + apps, ctest, memcheck subset
#   GN_PROFILE=bench bash scripts/gpu_check.sh OUT_DIR   # build benchmarks + labs, run them, PyTorch references
#   bash scripts/gpu_check.sh OUT_DIR                    # profile all: every step in priority order, what fits
#
# Needs third_party_carry/ (made by scripts/gather_gpu_deps.sh on the Debian machine and passed as the
# device call's carry): without it the script exits 2 at once, before any work, saying how to make it.
#
# OUT_DIR receives exactly two files: summary.md and results.tgz (every log and result). Both are
# rewritten after every step, so a run cut short still leaves them. Logs go to a work folder first.
#
# Order: machine, tools, CUDA libraries (all printed before anything is built), gtest, configure, build,
# ctest, memcheck, kernel labs, PyTorch on CUDA, Google Benchmarks (bench_conv_cuda among them: conv2d at
# batch 24 on the GPU), PyTorch's conv2d at batch 24 on the GPU (its twin: conv_torch_cuda.json), PyTorch
# on CPU, then the NYUv2 SegNet step at the paper's scale (full SegNet, 288x384, batch 24) on the GPU: ours
# (bench_nyuv2_step --benchmark_filter=Cuda: equal step, GradNorm over equal paired; nyuv2_step_cuda.json)
# and PyTorch eager's (nyuv2_torch.py --device cuda; nyuv2_torch_cuda.json); a profile runs its subset.
# Every step runs even when an earlier one failed (one that needs an earlier one's output says so); a step
# that would start past the time budget is not run and counts as failed, and each step's timeout is capped
# by what is left. Exit status 0 when every step passed, 1 otherwise, 2 for bad usage or a missing carry.
# The tests run with GN_REQUIRE_CUDA=1: a CUDA test that finds no device fails. Only the SegNet pair, e.g.:
# GN_PROFILE=bench GN_SKIP="labs torch-cuda bench torch-conv torch-cpu" (configure, build, segnet).
#
# Environment (all optional):
#   GN_PROFILE              tests | bench | all (all)
#   GN_TIME_BUDGET_S        seconds for the whole run (480; give the device call timeout_s ~560); 0 = none
#   GN_BUILD_DIR            build folder (build-gpu)
#   GN_WORK_DIR             folder the logs are written to before tarring (a new one under $TMPDIR)
#   GN_JOBS                 build and ctest parallelism (nproc)
#   GN_SKIP                 steps to leave out: gtest build tests memcheck labs torch-cuda bench torch-conv
#                           torch-cpu segnet
#   GN_MEMCHECK             memcheck runs, space-separated BINARY:GTEST_FILTER (memcheck_default below)
#   GN_BENCH_ARGS           extra arguments for every Google Benchmark
#   GN_LAB_ARGS             extra arguments for every kernel lab, e.g. --quick or --repeats 10
#   GN_TORCH_ARGS           arguments for benchmarks/toy_step_torch.py (--steps 300)
#   GN_CUDA_ARCHITECTURES   CMAKE_CUDA_ARCHITECTURES (native where CMake >= 3.24 and a GPU answers, else 90)
set -uo pipefail

# Tests that may skip on a working GPU machine, each with its reason. Any other skipped test fails the
# tests step (with GN_REQUIRE_CUDA=1 a CUDA test without a device fails rather than skips, so a skip means
# a test skipping for its own reasons, which must be listed here). Patterns are globs on the ctest name.
allowed_skips=(
  "GradNormCudaTaskNorms.PieceLongerThan2To31Elements|needs ~10 GB of free device memory (one 8.6 GB float buffer)"
  "Device.CudaUnavailableIsAClearError|checks the no-GPU error path, so it skips when a device answers"
)
# The memcheck subset: every CUDA kernel test, and from test_core the CUDA side of the backend parity
# suite and the CUDA allocator tests.
memcheck_default="test_kernels:* test_core:*BackendParity*/cuda:Allocator.*"
# Kept out of every memcheck run (a gtest negative filter), each with its reason.
memcheck_exclude=(
  "Allocator.FailedSystemAllocationDoesNotCountAsInUse|allocates 2^60 bytes on purpose: memcheck reports the failed cudaMalloc as an API error"
  "Allocator.FailedCudaAllocationDoesNotPoisonTheNextLaunch|the same deliberate out-of-memory cudaMalloc"
  "*2To31*|beyond 2^31 elements (an 8.6 GB buffer, 2.7e9 reads): far too slow under memcheck for one call"
)

if (($# != 1)); then
  echo "usage: [GN_PROFILE=tests|bench|all] bash scripts/gpu_check.sh OUT_DIR" >&2
  exit 2
fi
out_arg=$1
[[ $out_arg == /* ]] || out_arg=$PWD/$out_arg
cd "$(dirname "$0")/.." || exit 2
root=$PWD
carry=$root/third_party_carry
if [[ ! -f $carry/MANIFEST.txt ]]; then
  cat >&2 <<EOF
gpu_check: $carry is missing (or has no MANIFEST.txt), so nothing could be configured; nothing was run.
  Make it on the Debian machine (git-ignored, about 17 MB, a minute):
      bash scripts/gather_gpu_deps.sh
  and pass it with the device call:
      carry: ["third_party_carry"]
EOF
  exit 2
fi
profile=${GN_PROFILE:-all}
case $profile in
  tests) profile_steps="gtest configure build tests memcheck" target_dirs="tests|apps" opts=(ON OFF) ;;
  bench) profile_steps="configure build labs torch-cuda bench torch-conv torch-cpu segnet" target_dirs="benchmarks" opts=(OFF ON) ;;
  all) profile_steps="gtest configure build tests memcheck labs torch-cuda bench torch-conv torch-cpu segnet" target_dirs="" opts=(ON ON) ;;
  *) echo "gpu_check: unknown GN_PROFILE '$profile' (expected tests, bench or all)" >&2 && exit 2 ;;
esac
budget=${GN_TIME_BUDGET_S:-480}
mkdir -p "$out_arg" || exit 2
out=$(cd "$out_arg" && pwd)
work=${GN_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")}/gpu-results
mkdir -p "$work" || exit 2
rm -f "$out/summary.md" "$out/results.tgz"
build=$root/${GN_BUILD_DIR:-build-gpu}
jobs=${GN_JOBS:-$(nproc)}
skip=" ${GN_SKIP:-} "
start=$(date +%s)
export GN_REQUIRE_CUDA=1

# shellcheck source=lib/gpu_check_report.sh
source "$root/scripts/lib/gpu_check_report.sh"
# shellcheck source=lib/gpu_check_probe.sh
source "$root/scripts/lib/gpu_check_probe.sh"
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

# A step of this profile that GN_SKIP does not leave out.
wants() { [[ " $profile_steps " == *" $1 "* && $skip != *" $1 "* ]]; }
left_out() { [[ " $profile_steps " != *" $1 "* ]] && echo "not in profile $profile" || echo "GN_SKIP"; }

log "profile $profile (steps: $profile_steps), time budget $( ((budget > 0)) && echo "$budget s" || echo none)," \
  "build $build, logs $work, results into $out (summary.md, results.tgz)"
for st in tests memcheck; do [[ " $profile_steps " == *" $st "* ]] || not_in_profile+=" $st"; done
record profile INFO "$profile: $profile_steps; budget $budget s; $jobs jobs"
record carry PASS "$(du -shL "$carry" | cut -f1), $(sed -n 1p "$carry/MANIFEST.txt" | sed 's/.* on //')"

# ---- 1-3. The machine, the tools, the CUDA libraries: before any build. ---------------------------
log "machine"
probe_machine
log "tools"
probe_tools
log "CUDA libraries"
probe_libraries

# ---- 4. GoogleTest rebuilt from the carried sources with this machine's compiler (the carry's prebuilt
# one, compiled elsewhere, is the fallback).
prefix_path=$carry
if ! wants gtest; then
  [[ " $profile_steps " == *" gtest "* ]] && record gtest SKIP "$(left_out gtest)"
elif [[ ! -f $carry/src/googletest/CMakeLists.txt || -z $cmake_bin ]]; then
  record gtest SKIP "no carried GoogleTest sources or no cmake: using the carry's prebuilt GTest"
elif (($(limit_for 120) == 0)); then
  record gtest FAIL "$(out_of_time)"
else
  log "building GoogleTest from third_party_carry/src/googletest"
  gt_build=$build/_gtest/build gt_prefix=$build/_gtest/install
  if run_logged "$(limit_for 120)" "$work/build.log" "$cmake_bin" -S "$carry/src/googletest" -B "$gt_build" "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$gt_prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_GMOCK=ON -DINSTALL_GTEST=ON -DBUILD_SHARED_LIBS=OFF &&
    run_logged "$(limit_for 120)" "$work/build.log" "$cmake_bin" --build "$gt_build" -j "$jobs" &&
    run_logged "$(limit_for 120)" "$work/build.log" "$cmake_bin" --install "$gt_build"; then
    prefix_path="$gt_prefix;$carry"
    record gtest PASS "rebuilt with this machine's compiler"
  else
    record gtest FAIL "rebuilding GoogleTest failed (see build.log); falling back to the carry's prebuilt GTest"
  fi
fi

# ---- 5. Configure: CUDA on, dependencies from the carry only, tests / benchmarks as the profile needs.
arch=${GN_CUDA_ARCHITECTURES:-}
if [[ -z $arch ]]; then
  arch=90
  if ((gpu_ok)) && [[ -n $cmake_version ]] && printf '3.24\n%s\n' "$cmake_version" | sort -V -C; then arch=native; fi
fi
configured=0
if [[ -z $cmake_bin || -z $nvcc || -z $cxx ]]; then
  record configure SKIP "missing tools (see the tools step)"
elif (($(limit_for 120) == 0)); then
  record configure FAIL "$(out_of_time)"
else
  configure() {  # <arch>
    run_logged "$(limit_for 120)" "$work/build.log" "$cmake_bin" -S "$root" -B "$build" "${gen[@]}" \
      -DCMAKE_BUILD_TYPE=Release -DGRADNORM_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
      -DCMAKE_CUDA_ARCHITECTURES="$1" -DCMAKE_PREFIX_PATH="$prefix_path" \
      -DGRADNORM_BUILD_TESTS="${opts[0]}" -DGRADNORM_BUILD_BENCHMARKS="${opts[1]}" \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
  }
  log "configure (CUDA architectures $arch, tests ${opts[0]}, benchmarks ${opts[1]})"
  if configure "$arch"; then
    configured=1
  elif [[ $arch == native ]]; then
    log "configure with native architectures failed; retrying with 90"
    rm -f "$build/CMakeCache.txt"
    arch=90
    configure 90 && configured=1
  fi
  facts["CUDA architectures"]=$arch
  if ((configured)); then
    pkg_src=$(grep -E '^(Eigen3|fmt|CLI11|nlohmann_json|GTest|benchmark)_DIR:' "$build/CMakeCache.txt" |
      sed -E 's/_DIR:PATH=/ /' | while read -r n p; do
        case $p in "$carry"* | "$build/_gtest"*) echo "$n:carry" ;; *) echo "$n:$p" ;; esac
      done | tr '\n' ' ')
    gtest_dir=$(grep -E '^GTest_DIR:' "$build/CMakeCache.txt" | cut -d= -f2-)
    facts["GTest used"]="${gtest_dir:-?}$([[ $gtest_dir == "$build/_gtest"* ]] && echo " (rebuilt here)")"
    record configure PASS "CUDA architectures $arch; packages from: $pkg_src"
  else
    record configure FAIL "cmake failed (see build.log)"
  fi
fi

# ---- 6. Build this profile's executables (ninja -k 0: one broken target does not stop the rest).
if ((!configured)); then
  record build SKIP "not configured"
elif (($(limit_for 420) == 0)); then
  record build FAIL "$(out_of_time)"
else
  targets=()
  if [[ -n $target_dirs && -n $ninja_bin ]]; then
    mapfile -t targets < <("$ninja_bin" -C "$build" -t targets all 2>/dev/null |
      grep -E '^[^:]+: [A-Z]+_EXECUTABLE_LINKER' | cut -d: -f1 | grep -E "^($target_dirs)/" | grep -v '\.cmake$' | sort)
  fi
  target_args=() what="everything"
  ((${#targets[@]})) && target_args=(--target "${targets[@]}") what="${#targets[@]} targets: ${targets[*]##*/}"
  log "build $what (-j $jobs)"
  if run_logged "$(limit_for 420)" "$work/build.log" "$cmake_bin" --build "$build" -j "$jobs" "${target_args[@]}" \
    -- "${keep_going[@]}"; then
    record build PASS "$what"
  else
    rc=$?
    failed_targets=$(grep -E '^FAILED: ' "$work/build.log" | awk '{print $2}' | head -8 | tr '\n' ' ')
    record build FAIL "$( ((rc == 124)) && echo "timed out; ")${failed_targets:+failed: $failed_targets; }see build.log; running what was built"
  fi
fi

# ---- 7. ctest: every test, GN_REQUIRE_CUDA=1, JUnit report; skips outside the allow-list fail.
if ! wants tests; then
  [[ " $profile_steps " == *" tests "* ]] && record tests SKIP "$(left_out tests)"
elif [[ ! -f $build/tests/CTestTestfile.cmake ]]; then
  record tests SKIP "no test build"
elif (($(limit_for 240) == 0)); then
  record tests FAIL "$(out_of_time)"
else
  log "ctest"
  ctest_bin=$(dirname "$cmake_bin")/ctest
  [[ -x $ctest_bin ]] || ctest_bin=ctest
  run_logged "$(limit_for 240)" "$work/ctest.log" "$ctest_bin" --test-dir "$build" --output-on-failure \
    -j "$jobs" --timeout 200 --output-junit "$work/ctest-junit.xml"
  rc=$?
  # ctest's summary line gives the total and the failures ("Not Run", e.g. a test binary that failed to
  # build, counts as failed); skipped tests are the run lines marked ***Skipped.
  total=$(grep -oE 'tests failed out of [0-9]+' "$work/ctest.log" | tail -1 | grep -oE '[0-9]+$')
  nfail=$(grep -oE '[0-9]+ tests failed out of' "$work/ctest.log" | tail -1 | grep -oE '^[0-9]+')
  run_line='^ *[0-9]+/[0-9]+ +Test +#[0-9]+: '
  mapfile -t skipped < <(grep -E "$run_line.*\*\*\*Skipped" "$work/ctest.log" | sed -E "s|$run_line||; s| \.+.*||; s|  # .*||; s| +$||")
  nnotrun=$(grep -cE "$run_line.*\*\*\*Not Run" "$work/ctest.log")
  unexpected=()
  skip_notes=""
  for t in "${skipped[@]}"; do
    reason=""
    for a in "${allowed_skips[@]}"; do
      # shellcheck disable=SC2053
      [[ $t == ${a%%|*} ]] && reason=${a#*|} && break
    done
    if [[ -n $reason ]]; then skip_notes+="- skipped, allowed: \`$t\`: $reason"$'\n'; else unexpected+=("$t"); fi
  done
  for t in "${unexpected[@]}"; do skip_notes+="- **skipped, not allowed**: \`$t\`"$'\n'; done
  if [[ -n $total ]]; then
    test_counts="$total tests: $((total - ${nfail:-0} - ${#skipped[@]})) passed, ${nfail:-0} failed, ${#skipped[@]} skipped"
    ((nnotrun > 0)) && test_counts+=" ($nnotrun of the failed did not run: not built?)"
    fails=$(sed -n '/The following tests FAILED:/,$p' "$work/ctest.log" | grep -E '^\s+[0-9]+ - ' | head -20)
    [[ -n $fails ]] && test_counts+=$'\n\nFailed (first 20):\n\n```\n'"$fails"$'\n```'
  else
    test_counts="ctest printed no summary line (exit $rc; see ctest.log)"
  fi
  if ((rc == 0 && ${#unexpected[@]} == 0)); then
    record tests PASS "$(head -1 <<<"$test_counts")"
  else
    record tests FAIL "$(head -1 <<<"$test_counts")$( ((${#unexpected[@]})) && echo "; ${#unexpected[@]} skipped outside the allow-list") (ctest exit $rc$( ((rc == 124)) && echo ": timed out"))"
  fi
fi

# ---- 8. compute-sanitizer memcheck over the chosen subset, deliberate failures left out.
if ! wants memcheck; then
  [[ " $profile_steps " == *" memcheck "* ]] && record memcheck SKIP "$(left_out memcheck)"
elif [[ -z $sanitizer ]]; then
  record memcheck FAIL "compute-sanitizer not found (looked beside nvcc and on PATH)"
elif ((!gpu_ok)); then
  record memcheck FAIL "no GPU: memcheck needs a device"
else
  negative=$(for e in "${memcheck_exclude[@]}"; do printf '%s:' "${e%%|*}"; done)
  negative=${negative%:}
  mc_fail=0
  for entry in ${GN_MEMCHECK:-$memcheck_default}; do
    name=${entry%%:*} filter=${entry#*:}
    [[ $filter == *-* ]] && filter+=":$negative" || filter+="-$negative"
    bin=$build/tests/$name secs=$(limit_for 150)
    if [[ ! -x $bin ]]; then
      memcheck_rows+=("| $name | \`$filter\` | - | not built | - |") mc_fail=1
    elif ((secs == 0)); then
      memcheck_rows+=("| $name | \`$filter\` | - | $(out_of_time) | - |") mc_fail=1
    else
      log "memcheck $name (filter '$filter', up to $secs s)"
      mlog=$work/memcheck-$name.log
      run_logged "$secs" "$mlog" "$sanitizer" --tool memcheck --error-exitcode 1 --print-limit 50 \
        "$bin" --gtest_filter="$filter" --gtest_brief=1
      rc=$?
      summary=$(grep -E 'ERROR SUMMARY' "$mlog" | tail -1 | sed 's/^=* *//')
      ran=$(grep -oE '^\[==========\] [0-9]+ tests? from' "$mlog" | tail -1 | grep -oE '[0-9]+')
      passed=$(grep -oE '^\[  PASSED  \] [0-9]+' "$mlog" | tail -1 | grep -oE '[0-9]+$')
      nskip=$(grep -oE '^\[  SKIPPED \] [0-9]+' "$mlog" | tail -1 | grep -oE '[0-9]+$')
      gt="gtest printed no summary"  # (--gtest_brief lists failures but prints no failure count)
      [[ -n $ran ]] && gt="$ran ran, ${passed:-0} passed, $((ran - ${passed:-0} - ${nskip:-0})) failed, ${nskip:-0} skipped"
      ((rc == 124)) && summary="timed out after ${secs}s; ${summary}"
      memcheck_rows+=("| $name | \`$filter\` | $rc | ${summary:-no ERROR SUMMARY line} | $gt |")
      ((rc != 0)) && mc_fail=1
    fi
    write_summary
  done
  if ((mc_fail)); then
    record memcheck FAIL "see the memcheck table and memcheck-*.log"
  else
    record memcheck PASS "$(wc -w <<<"${GN_MEMCHECK:-$memcheck_default}") runs; left out: ${negative//:/, }"
  fi
fi

# ---- 9-13. Kernel labs (build/benchmarks/<folder>/*: validate every variant, then a markdown table;
# --csv writes it as CSV too), PyTorch's toy step on CUDA, Google Benchmarks (build/benchmarks/*: JSON;
# bench_conv_cuda is conv2d through cuDNN at the SegNet shapes, batch 24), PyTorch's conv2d at the same
# shapes and batch on this GPU (benchmarks/conv_torch.py, cuDNN; deterministic algorithms off and on),
# PyTorch's toy step on the CPU (1 thread, as bench_toy_step), then the NYUv2 SegNet step on the GPU, ours
# and PyTorch's (full SegNet, 288x384, batch 24: last, the toy and the kernels come first). Each run is
# capped at 150 s (bench_cap), the SegNet ones at 100 s and 80 s.
run_bench() {  # <label> <result files in $work> <stdout file> <cmd...>: one run, its outcome into bench_files
  local label=$1 files=$2 stdout=$3 secs
  shift 3
  secs=$(limit_for "${bench_cap:-150}")
  if ((secs == 0)); then
    bench_files+=("$label: $(out_of_time)") bench_fail=1
    return
  fi
  log "$label (up to $secs s)"
  echo "+ $*" >>"$work/bench.log"
  timeout --kill-after=10 "$secs" "$@" >"$stdout" 2>>"$work/bench.log" &
  child=$!
  wait "$child"
  local rc=$? f kept=()
  child=""
  for f in $files; do [[ -s $work/$f ]] && kept+=("$f"); done
  files="${kept[*]:-no output}"
  if ((rc == 0)) && grep -q ': skipped: ' "$stdout"; then  # a kernel lab without a device exits 0
    bench_files+=("$label: $(grep -m1 ': skipped: ' "$stdout")") bench_fail=1
  elif ((rc == 0)) && grep -q '"error_occurred": true' "$stdout"; then  # SkipWithError (no device) exits 0
    f=$(grep -m1 '"error_message"' "$stdout" | sed -E 's/^ *"error_message": *//; s/,$//')
    bench_files+=("$label: $files; $(grep -c '"error_occurred": true' "$stdout") benchmark(s) skipped with an error: $f")
    bench_fail=1
  elif ((rc == 0)); then
    bench_files+=("$label: $files")
  else
    bench_files+=("$label: $files; exit $rc$( ((rc == 124)) && echo ", timed out")") bench_fail=1
  fi
  write_summary
}
# shellcheck disable=SC2206
bench_args=(${GN_BENCH_ARGS:-}) lab_args=(${GN_LAB_ARGS:-}) torch_args=(${GN_TORCH_ARGS:---steps 300})
for step in labs torch-cuda bench torch-conv torch-cpu segnet; do
  if ! wants $step; then
    [[ " $profile_steps " == *" $step "* ]] && record $step SKIP "$(left_out $step)"
    continue
  fi
  bench_fail=0 n=0
  case $step in
    labs | bench)
      depth=(-mindepth 2 -maxdepth 2) && [[ $step == bench ]] && depth=(-maxdepth 1)
      [[ -d $build/benchmarks ]] || { record $step SKIP "no $build/benchmarks (not configured or built)"; continue; }
      while IFS= read -r b; do
        rel=${b#"$build/benchmarks/"} name=${b##*/} n=$((n + 1))
        if [[ $step == labs ]]; then
          run_bench "$rel" "$name.md $name.csv" "$work/$name.md" "$b" --csv "$work/$name.csv" "${lab_args[@]}"
        else
          # bench_nyuv2_step's CUDA rows (full SegNet) run in the segnet step, after the others.
          only=() && [[ $name == bench_nyuv2_step ]] && only=(--benchmark_filter=-Cuda)
          run_bench "$rel" "$name.json" "$work/$name.json" "$b" --benchmark_format=json "${only[@]}" "${bench_args[@]}"
        fi
      done < <(find "$build/benchmarks" "${depth[@]}" -type f -executable -not -path '*/CMakeFiles/*' | sort)
      ;;
    torch-conv)
      n=1
      run_bench "conv_torch.py --device cuda --batch 24 (table in bench.log)" "conv_torch_cuda.json" \
        "$work/conv_torch_cuda.json" "${py:-python3}" "$root/benchmarks/conv_torch.py" --device cuda --batch 24 \
        --deterministic both --json
      ;;
    segnet)  # full SegNet, 288x384, batch 24, float32, on the GPU: ours (equal; GradNorm over equal) and PyTorch's
      n=2 b=$build/benchmarks/bench_nyuv2_step
      if [[ -x $b ]]; then
        bench_cap=100 run_bench "bench_nyuv2_step --benchmark_filter=Cuda (full SegNet 288x384 batch 24)" \
          "nyuv2_step_cuda.json" "$work/nyuv2_step_cuda.json" "$b" --benchmark_filter=Cuda --benchmark_format=json \
          "${bench_args[@]}"
      else
        bench_files+=("bench_nyuv2_step (CUDA rows): not built (see build.log)") bench_fail=1
      fi
      bench_cap=80 run_bench "nyuv2_torch.py --device cuda (full SegNet 288x384 batch 24; text in bench.log)" \
        "nyuv2_torch_cuda.json" "$work/nyuv2_torch_cuda.json" "${py:-python3}" "$root/benchmarks/nyuv2_torch.py" \
        --device cuda --width 1 --height 288 --image-width 384 --batch 24 --warmup 5 --steps 20 --repeats 3 --json
      ;;
    torch-*)
      dev=${step#torch-} n=1
      extra=(--device "$dev") && [[ $dev == cpu ]] && extra+=(--threads 1)
      run_bench "toy_step_torch.py --device $dev (table in bench.log)" "torch_$dev.jsonl" "$work/torch_$dev.jsonl" \
        "${py:-python3}" "$root/benchmarks/toy_step_torch.py" --json "${extra[@]}" "${torch_args[@]}"
      ;;
  esac
  if ((n == 0)); then
    record $step FAIL "nothing to run in $build/benchmarks (did the build fail? see build.log)"
  elif ((bench_fail)); then
    record $step FAIL "see the list below and bench.log"
  else
    record $step PASS "$n run"
  fi
done

trap - TERM INT
write_summary
pack
log "summary: $out/summary.md, results: $out/results.tgz ($(du -h "$out/results.tgz" | cut -f1))"
cat "$out/summary.md"
exit "$failed"
