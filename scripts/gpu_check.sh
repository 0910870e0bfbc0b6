#!/usr/bin/env bash
# The GPU machine's check: configure with CUDA on, build, run every test, run compute-sanitizer's
# memcheck over the test binaries, run the benchmarks, and write OUT_DIR/summary.md.
#
#   bash scripts/gpu_check.sh OUT_DIR
#
# Run from a checkout that carries third_party_carry/ (made by scripts/gather_gpu_deps.sh on a Debian
# machine; the GPU machine has nvcc, CMake, ninja and PyTorch's CUDA wheels but no package registry).
# Builds into build-gpu/. Every step runs even when an earlier one failed (a step that needs an
# earlier one's output says so and is marked skipped); the exit status is non-zero when any step failed.
# summary.md is rewritten after every step, so a run cut short still leaves one.
#
# Environment (all optional):
#   GN_BUILD_DIR            build folder (build-gpu)
#   GN_JOBS                 build and ctest parallelism (nproc)
#   GN_TIME_BUDGET_S        seconds for the whole run; steps that would start past it are not run (and
#                           count as failed) and each step's timeout is capped by what is left (0 = none)
#   GN_SKIP                 steps to leave out, space-separated: gtest build tests memcheck bench
#   GN_SANITIZE_BINARIES    test binaries for memcheck ("test_kernels test_core")
#   GN_SANITIZE_FILTER      gtest filter for memcheck runs, e.g. '*Cuda*:*cuda*' (default: every test)
#   GN_BENCH_ARGS           extra arguments for every Google Benchmark, e.g. --benchmark_min_time=0.2
#   GN_LAB_ARGS             extra arguments for every kernel lab, e.g. --quick or --repeats 10
#   GN_CUDA_ARCHITECTURES   CMAKE_CUDA_ARCHITECTURES (native where CMake >= 3.24 and a GPU answers, else 90)
set -uo pipefail

if (($# != 1)); then
  echo "usage: bash scripts/gpu_check.sh OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/.." || exit 2
root=$PWD
build=$root/${GN_BUILD_DIR:-build-gpu}
carry=$root/third_party_carry
jobs=${GN_JOBS:-$(nproc)}
budget=${GN_TIME_BUDGET_S:-0}
skip=" ${GN_SKIP:-} "
start=$(date +%s)

# ---- bookkeeping: one row per step, summary.md rewritten after each ----
steps=() results=() notes=()
failed=0
declare -A facts=()
memcheck_rows=()
bench_files=()
test_counts="not run"

log() { printf '[gpu_check %4ds] %s\n' "$(($(date +%s) - start))" "$*"; }
record() {  # <step> <PASS|FAIL|SKIP|INFO> <note>
  steps+=("$1") results+=("$2") notes+=("$3")
  [[ $2 == FAIL ]] && failed=1
  log "$1: $2${3:+ - $3}"
  write_summary
}
elapsed() { echo $(($(date +%s) - start)); }
# Seconds a step may take: its own limit, capped by what is left of the budget (0: nothing left).
limit_for() {
  local want=$1
  ((budget > 0)) || { echo "$want"; return; }
  local left=$((budget - $(elapsed)))
  ((left < want)) && want=$left
  ((want > 0)) && echo "$want" || echo 0
}
skipped_by_user() { [[ $skip == *" $1 "* ]]; }
# A step left out for lack of time is a failure: the check is incomplete and must not pass.
out_of_time="not run: the time budget (GN_TIME_BUDGET_S=$budget) was spent"

write_summary() {
  {
    echo "# gradnorm GPU check"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(elapsed) s, from \`bash scripts/gpu_check.sh\` in $root"
    echo
    echo "## Machine"
    echo
    echo "| | |"
    echo "|---|---|"
    for k in "GPU" "driver" "CUDA (driver)" "nvcc" "compute-sanitizer" "host compiler" "cmake" "generator" \
      "CUDA architectures" "OS" "glibc" "CPU" "cuDNN" "NCCL" "GTest used"; do
      [[ -n ${facts[$k]:-} ]] && echo "| $k | ${facts[$k]} |"
    done
    echo
    echo "## Steps"
    echo
    echo "| step | result | note |"
    echo "|---|---|---|"
    local i
    for i in "${!steps[@]}"; do
      echo "| ${steps[$i]} | ${results[$i]} | ${notes[$i]//|/\\|} |"
    done
    echo
    echo "## Tests (ctest)"
    echo
    echo "$test_counts"
    echo
    echo "## compute-sanitizer memcheck"
    echo
    if ((${#memcheck_rows[@]})); then
      echo "| binary | exit | ERROR SUMMARY | gtest |"
      echo "|---|---|---|---|"
      printf '%s\n' "${memcheck_rows[@]}"
    else
      echo "not run"
    fi
    echo
    echo "## Benchmarks"
    echo
    if ((${#bench_files[@]})); then
      printf -- '- %s\n' "${bench_files[@]}"
      echo
      echo "Numbers worth keeping go to benchmarks/RESULTS.md with the machine above and the command."
    else
      echo "none run"
    fi
    echo
    echo "Beside this file: build.log (gtest, configure, build), ctest.log, ctest-junit.xml, memcheck-*.log,"
    echo "bench.log, and each benchmark's JSON or kernel lab's table."
    echo
    echo "Overall: $( ((failed)) && echo FAILED || echo PASSED)"
  } >"$out/summary.md.tmp" && mv "$out/summary.md.tmp" "$out/summary.md"
}

# Runs a command under `timeout`, output appended to a log; returns its status (124: timed out).
run_logged() {  # <seconds> <logfile> <cmd...>
  local secs=$1 logf=$2
  shift 2
  echo "+ $*" >>"$logf"
  timeout --kill-after=10 "$secs" "$@" >>"$logf" 2>&1
}

newest() { printf '%s\n' "$@" | sort -V | tail -1; }

# ---------------------------------------------------------------------------------------------------
# 1. The GPU: nvidia-smi must answer.
log "machine"
# shellcheck source=/dev/null
facts[OS]=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -sr)
facts[glibc]=$(ldd --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+$' || echo "?")
facts[CPU]="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
gpu_ok=0
if ! command -v nvidia-smi >/dev/null 2>&1; then
  facts[GPU]="none (nvidia-smi not found)"
  record gpu FAIL "nvidia-smi not found: this machine has no NVIDIA driver, so no GPU test can run (the CUDA tests will show SKIPPED)"
elif ! smi=$(nvidia-smi 2>&1); then
  facts[GPU]="none (nvidia-smi failed)"
  record gpu FAIL "nvidia-smi failed: $(echo "$smi" | head -1) (no usable GPU: the CUDA tests will show SKIPPED)"
else
  echo "$smi"
  facts[GPU]=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)
  facts[driver]=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
  facts["CUDA (driver)"]=$(echo "$smi" | grep -oE 'CUDA Version: *[0-9.]+' | head -1 | grep -oE '[0-9.]+$')
  gpu_ok=1
  record gpu PASS "${facts[GPU]}, driver ${facts[driver]}"
fi

# 2. Tools: found, never assumed.
log "tools"
nvcc=$(command -v nvcc 2>/dev/null || true)
if [[ -z $nvcc ]]; then
  # shellcheck disable=SC2206
  cands=(/usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc /opt/cuda/bin/nvcc)
  found=()
  for c in "${cands[@]}"; do [[ -x $c ]] && found+=("$c"); done
  if [[ -x /usr/local/cuda/bin/nvcc ]]; then
    nvcc=/usr/local/cuda/bin/nvcc
  elif ((${#found[@]})); then
    nvcc=$(newest "${found[@]}")
  fi
fi
py=$(command -v python3 2>/dev/null || true)
if [[ -z $nvcc && -n $py ]]; then  # the cuda-toolkit wheel ships nvcc under site-packages/nvidia/cu*/bin
  nvcc=$("$py" -c 'import glob, site; print(next(iter(sorted(p for s in site.getsitepackages() for p in glob.glob(s + "/nvidia/*/bin/nvcc"))), ""))' 2>/dev/null)
fi
cuda_bin=""
if [[ -n $nvcc ]]; then
  cuda_bin=$(dirname "$(readlink -f "$nvcc")")
  export PATH="$cuda_bin:$PATH"
  facts[nvcc]="$nvcc ($("$nvcc" --version | grep -oE 'release [0-9.]+' | head -1))"
  "$nvcc" --version
else
  facts[nvcc]="not found"
fi
sanitizer=""
for c in "$cuda_bin/compute-sanitizer" "$cuda_bin/../compute-sanitizer/compute-sanitizer" \
  "$(command -v compute-sanitizer 2>/dev/null)"; do
  [[ -n $c && -x $c ]] && { sanitizer=$(readlink -f "$c"); break; }
done
facts[compute-sanitizer]=${sanitizer:-not found}
pybin=""
[[ -n $py ]] && pybin=$(dirname "$("$py" -c 'import sys; print(sys.executable)' 2>/dev/null || echo "$py")")
cmake_bin=$(command -v cmake 2>/dev/null || true)
[[ -z $cmake_bin && -x $pybin/cmake ]] && cmake_bin=$pybin/cmake
ninja_bin=$(command -v ninja 2>/dev/null || true)
[[ -z $ninja_bin && -x $pybin/ninja ]] && ninja_bin=$pybin/ninja
cxx=$(command -v c++ 2>/dev/null || command -v g++ 2>/dev/null || true)
facts["host compiler"]=$([[ -n $cxx ]] && "$cxx" --version | head -1 || echo "not found")
cmake_version=""
if [[ -n $cmake_bin ]]; then
  "$cmake_bin" --version | head -1
  cmake_version=$("$cmake_bin" --version | head -1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?')
  facts[cmake]="$cmake_bin $cmake_version"
else
  facts[cmake]="not found"
fi
gen=(-G "Unix Makefiles")
keep_going=(-k)
if [[ -n $ninja_bin ]]; then
  gen=(-G Ninja -DCMAKE_MAKE_PROGRAM="$ninja_bin")
  keep_going=(-k 0)
  facts[generator]="Ninja ($ninja_bin $("$ninja_bin" --version))"
else
  facts[generator]="Unix Makefiles (no ninja found)"
fi
missing=()
[[ -z $nvcc ]] && missing+=("nvcc (looked on PATH, /usr/local/cuda*/bin, site-packages/nvidia/*/bin)")
[[ -z $cmake_bin ]] && missing+=(cmake)
[[ -z $cxx ]] && missing+=("a C++ compiler")
if ((${#missing[@]})); then
  record tools FAIL "missing: ${missing[*]}"
else
  record tools PASS "nvcc, cmake, $([[ -n $ninja_bin ]] && echo ninja || echo make), ${cxx##*/}; compute-sanitizer ${sanitizer:+found}${sanitizer:-missing}"
fi

# 3. cuDNN and NCCL from PyTorch's wheels (site-packages/nvidia/*): not used by the build yet; their
# folders go on LD_LIBRARY_PATH and into CUDNN_ROOT / NCCL_ROOT (read by find_package(CUDNN/NCCL)).
log "cuDNN / NCCL"
nv_dirs=""
if [[ -n $py ]]; then
  # nvidia is a namespace package: __path__, not __file__.
  nv_dirs=$("$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null ||
    "$py" -c 'import glob, site; print("\n".join(d for s in site.getsitepackages() for d in glob.glob(s + "/nvidia")))' 2>/dev/null)
fi
cudnn_lib="" nccl_lib=""
while IFS= read -r d; do
  [[ -n $d && -d $d ]] || continue
  [[ -z $cudnn_lib ]] && cudnn_lib=$(find "$d" -name 'libcudnn.so*' -print -quit 2>/dev/null)
  [[ -z $nccl_lib ]] && nccl_lib=$(find "$d" -name 'libnccl.so*' -print -quit 2>/dev/null)
done <<<"$nv_dirs"
found_libs=()
if [[ -n $cudnn_lib ]]; then
  d=$(dirname "$cudnn_lib")
  export CUDNN_ROOT=${d%/lib} LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  facts[cuDNN]="$cudnn_lib"
  found_libs+=(cuDNN)
else
  facts[cuDNN]="not found"
fi
if [[ -n $nccl_lib ]]; then
  d=$(dirname "$nccl_lib")
  export NCCL_ROOT=${d%/lib} LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  facts[NCCL]="$nccl_lib"
  found_libs+=(NCCL)
else
  facts[NCCL]="not found"
fi
log "nvidia wheel folders: ${nv_dirs//$'\n'/ } cuDNN: ${facts[cuDNN]} NCCL: ${facts[NCCL]}"
record cudnn-nccl INFO "found: ${found_libs[*]:-none} (not used by the build yet)"

# 4. GoogleTest rebuilt from the carried sources with this machine's compiler (the prebuilt one in
# the carry was compiled elsewhere); the carry's build is the fallback.
prefix_path=$carry
: >"$out/build.log"
if [[ ! -f $carry/MANIFEST.txt ]]; then
  record carry FAIL "third_party_carry/ is missing: run scripts/gather_gpu_deps.sh on the Debian machine and carry it"
else
  record carry PASS "$(du -sh "$carry" | cut -f1), $(sed -n 1p "$carry/MANIFEST.txt" | sed 's/.* on //')"
fi
if skipped_by_user gtest; then
  record gtest SKIP "GN_SKIP"
elif [[ ! -f $carry/src/googletest/CMakeLists.txt || -z $cmake_bin ]]; then
  record gtest SKIP "no carried GoogleTest sources or no cmake: using the carry's prebuilt GTest"
elif (($(limit_for 300) == 0)); then
  record gtest FAIL "$out_of_time"
else
  log "building GoogleTest from third_party_carry/src/googletest"
  gt_build=$build/_gtest/build gt_prefix=$build/_gtest/install
  if run_logged "$(limit_for 300)" "$out/build.log" "$cmake_bin" -S "$carry/src/googletest" -B "$gt_build" "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$gt_prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_GMOCK=ON -DINSTALL_GTEST=ON -DBUILD_SHARED_LIBS=OFF &&
    run_logged "$(limit_for 300)" "$out/build.log" "$cmake_bin" --build "$gt_build" -j "$jobs" &&
    run_logged "$(limit_for 300)" "$out/build.log" "$cmake_bin" --install "$gt_build"; then
    prefix_path="$gt_prefix;$carry"
    record gtest PASS "rebuilt with this machine's compiler"
  else
    record gtest FAIL "rebuilding GoogleTest failed (see build.log); falling back to the carry's prebuilt GTest"
  fi
fi

# 5. Configure: CUDA on, dependencies from the carry only (no package registry, carry first).
arch=${GN_CUDA_ARCHITECTURES:-}
if [[ -z $arch ]]; then
  arch=90
  if ((gpu_ok)) && [[ -n $cmake_version ]] && printf '3.24\n%s\n' "$cmake_version" | sort -V -C; then arch=native; fi
fi
configured=0
if [[ -z $cmake_bin || -z $nvcc || -z $cxx ]]; then
  record configure SKIP "missing tools (see the tools step)"
else
  configure() {  # <arch>
    run_logged "$(limit_for 300)" "$out/build.log" "$cmake_bin" -S "$root" -B "$build" "${gen[@]}" \
      -DCMAKE_BUILD_TYPE=Release -DGRADNORM_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
      -DCMAKE_CUDA_ARCHITECTURES="$1" -DCMAKE_PREFIX_PATH="$prefix_path" \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
  }
  log "configure (CUDA architectures $arch)"
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

# 6. Build everything that can be built (-k: one broken target does not stop the rest).
if ((!configured)); then
  record build SKIP "not configured"
elif (($(limit_for 900) == 0)); then
  record build FAIL "$out_of_time"
else
  log "build (-j $jobs)"
  if run_logged "$(limit_for 900)" "$out/build.log" "$cmake_bin" --build "$build" -j "$jobs" -- "${keep_going[@]}"; then
    record build PASS ""
  else
    failed_targets=$(grep -E '^FAILED: ' "$out/build.log" | awk '{print $2}' | head -8 | tr '\n' ' ')
    record build FAIL "some targets failed: ${failed_targets:-see build.log}; running what was built"
  fi
fi

# 7. ctest: every test, with a JUnit report.
if skipped_by_user tests; then
  record tests SKIP "GN_SKIP"
elif [[ ! -f $build/CTestTestfile.cmake ]]; then
  record tests SKIP "no build"
elif (($(limit_for 600) == 0)); then
  record tests FAIL "$out_of_time"
else
  log "ctest"
  ctest_bin=$(dirname "$cmake_bin")/ctest
  [[ -x $ctest_bin ]] || ctest_bin=ctest
  run_logged "$(limit_for 600)" "$out/ctest.log" "$ctest_bin" --test-dir "$build" --output-on-failure \
    -j "$jobs" --timeout 300 --output-junit "$out/ctest-junit.xml"
  rc=$?
  # ctest's own summary line gives the total and the failures ("Not Run", e.g. a test binary that
  # failed to build, counts as failed); skipped tests are the run lines marked ***Skipped.
  total=$(grep -oE 'tests failed out of [0-9]+' "$out/ctest.log" | tail -1 | grep -oE '[0-9]+$')
  nfail=$(grep -oE '[0-9]+ tests failed out of' "$out/ctest.log" | tail -1 | grep -oE '^[0-9]+')
  run_line='^ *[0-9]+/[0-9]+ +Test +#[0-9]+: '
  nskip=$(grep -cE "$run_line.*\*\*\*Skipped" "$out/ctest.log")
  nnotrun=$(grep -cE "$run_line.*\*\*\*Not Run" "$out/ctest.log")
  if [[ -n $total ]]; then
    npass=$((total - ${nfail:-0} - nskip))
    test_counts="$total tests: $npass passed, ${nfail:-0} failed, $nskip skipped"
    ((nnotrun > 0)) && test_counts+=" ($nnotrun of the failed did not run: not built?)"
    fails=$(sed -n '/The following tests FAILED:/,$p' "$out/ctest.log" | grep -E '^\s+[0-9]+ - ' | head -20)
    [[ -n $fails ]] && test_counts+=$'\n\nFailed:\n\n```\n'"$fails"$'\n```'
    skips=$(grep -E "$run_line.*\\*\\*\\*Skipped" "$out/ctest.log" | sed -E "s|$run_line||; s| \\.+.*||" | head -10)
    [[ -n $skips ]] && test_counts+=$'\n\nSkipped (first 10):\n\n```\n'"$skips"$'\n```'
  else
    test_counts="ctest printed no summary line (exit $rc; see ctest.log)"
  fi
  if ((rc == 0)); then
    record tests PASS "$(head -1 <<<"$test_counts")"
  else
    record tests FAIL "$(echo "$test_counts" | head -1) (ctest exit $rc$( ((rc == 124)) && echo ": timed out"))"
  fi
fi

# 8. compute-sanitizer memcheck over each test binary.
if skipped_by_user memcheck; then
  record memcheck SKIP "GN_SKIP"
elif [[ -z $sanitizer ]]; then
  record memcheck FAIL "compute-sanitizer not found (looked beside nvcc and on PATH)"
elif ((!gpu_ok)); then
  record memcheck FAIL "no GPU: memcheck needs a device"
else
  filter=${GN_SANITIZE_FILTER:-*}
  mc_fail=0
  for name in ${GN_SANITIZE_BINARIES:-test_kernels test_core}; do
    bin=$build/tests/$name
    if [[ ! -x $bin ]]; then
      memcheck_rows+=("| $name | - | not built | - |")
      mc_fail=1
      continue
    fi
    secs=$(limit_for 600)
    if ((secs == 0)); then
      memcheck_rows+=("| $name | - | $out_of_time | - |")
      mc_fail=1
      continue
    fi
    log "memcheck $name (filter '$filter')"
    mlog=$out/memcheck-$name.log
    : >"$mlog"
    run_logged "$secs" "$mlog" "$sanitizer" --tool memcheck --error-exitcode 1 --print-limit 50 \
      "$bin" --gtest_filter="$filter" --gtest_brief=1
    rc=$?
    summary=$(grep -E 'ERROR SUMMARY' "$mlog" | tail -1 | sed 's/^=* *//')
    gt=$(grep -E '^\[  (PASSED|FAILED) *\]|tests? ran' "$mlog" | tail -2 | tr '\n' ' ')
    ((rc == 124)) && summary="timed out after ${secs}s; ${summary}"
    memcheck_rows+=("| $name | $rc | ${summary:-no ERROR SUMMARY line} | ${gt:-?} |")
    ((rc != 0)) && mc_fail=1
    write_summary
  done
  if ((mc_fail)); then
    record memcheck FAIL "see the memcheck table and memcheck-*.log"
  else
    record memcheck PASS "filter '$filter'"
  fi
fi

# 9. Benchmarks. build/benchmarks/* are Google Benchmark executables: JSON on stdout into OUT_DIR.
# build/benchmarks/<folder>/* are kernel labs (benchmarks/kernel_lab: they validate every variant, then
# print a markdown table; --csv writes it as CSV too): OUT_DIR/<folder>_<name>.md and .csv.
if skipped_by_user bench; then
  record bench SKIP "GN_SKIP"
elif [[ ! -d $build/benchmarks ]]; then
  record bench SKIP "no build/benchmarks (not configured or GRADNORM_BUILD_BENCHMARKS=OFF)"
else
  bench_fail=0 nbench=0
  : >"$out/bench.log"
  # shellcheck disable=SC2206
  bench_args=(${GN_BENCH_ARGS:-})
  # shellcheck disable=SC2206
  lab_args=(${GN_LAB_ARGS:-})
  while IFS= read -r b; do
    rel=${b#"$build/benchmarks/"}
    name=${rel//\//_}
    secs=$(limit_for 600)
    if ((secs == 0)); then
      bench_files+=("$rel: $out_of_time")
      bench_fail=1 nbench=$((nbench + 1))
      continue
    fi
    log "benchmark $rel"
    nbench=$((nbench + 1))
    if [[ $rel == */* ]]; then
      echo "+ $b --csv $out/$name.csv ${lab_args[*]}" >>"$out/bench.log"
      timeout --kill-after=10 "$secs" "$b" --csv "$out/$name.csv" "${lab_args[@]}" >"$out/$name.md" 2>>"$out/bench.log"
      rc=$?
      result="$name.md"
      [[ -f $out/$name.csv ]] && result+=", $name.csv"
    else
      echo "+ $b --benchmark_format=json ${bench_args[*]}" >>"$out/bench.log"
      timeout --kill-after=10 "$secs" "$b" --benchmark_format=json "${bench_args[@]}" >"$out/$name.json" 2>>"$out/bench.log"
      rc=$?
      result="$name.json"
    fi
    if ((rc == 0)); then
      bench_files+=("$result")
    else
      bench_files+=("$result: exit $rc$( ((rc == 124)) && echo ", timed out")")
      bench_fail=1
    fi
    write_summary
  done < <(find "$build/benchmarks" -maxdepth 2 -type f -executable -not -path '*/CMakeFiles/*' | sort)
  if ((nbench == 0)); then
    record bench FAIL "no benchmark executable in $build/benchmarks (did their build fail? see build.log)"
  elif ((bench_fail)); then
    record bench FAIL "see the Benchmarks list below and bench.log"
  else
    record bench PASS "$nbench run"
  fi
fi

write_summary
log "summary: $out/summary.md"
cat "$out/summary.md"
exit "$failed"
