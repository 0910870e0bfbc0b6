#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, CMake option GRADNORM_FUZZ=ON, clang with
# -fsanitize=fuzzer,address,undefined) into ./build-fuzz and runs each for a while on its seed corpus.
#
#   bash scripts/fuzz.sh            # 60 s per target
#   bash scripts/fuzz.sh 600        # 600 s per target
#   bash scripts/fuzz.sh --quick    # about 10 s per target
#   FUZZ_TARGETS="safetensors parse_device" bash scripts/fuzz.sh --quick   # a subset
#
# Installs clang and its runtimes (libFuzzer, ASan, UBSan) from Debian's packages when missing, then the
# project's own dependencies (scripts/setup.sh). New inputs found go to build-fuzz/corpus/<target>/ (the
# committed seeds in fuzz/corpus/<target>/ are only read); a crash leaves build-fuzz/crash-<target>-*
# and the run's log in build-fuzz/<target>.log. Prints per target: executions, crashes, seconds.
# Exit status: 0 when no target crashed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=60
case ${1:-} in
  --quick) secs=10 ;;
  "") ;;
  *[!0-9]* | 0) echo "usage: $0 [seconds per target | --quick]" >&2; exit 2 ;;
  *) secs=$1 ;;
esac
targets=${FUZZ_TARGETS:-"safetensors initial_loss parse_device cli_checks toy_args npy mat_convert"}

# ---- clang + compiler-rt (libFuzzer, sanitizers) + libomp (the CPU kernels use OpenMP) ----
packages=(clang libclang-rt-dev libomp-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/setup.sh >/dev/null

# ---- build (CUDA off: the fuzzers exercise host code; tests and benchmarks are not needed). -O1 with line
# tables only: fast enough to fuzz, quick to compile (Eigen), and stack traces still name file and line;
# assertions stay on (no NDEBUG).
build=$root/build-fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DGRADNORM_CUDA=OFF -DGRADNORM_FUZZ=ON -DGRADNORM_BUILD_TESTS=OFF -DGRADNORM_BUILD_BENCHMARKS=OFF >/dev/null
# shellcheck disable=SC2046
cmake --build "$build" -j "$(nproc)" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done)

# ---- run ----
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
printf '\n%-14s %12s %8s %8s\n' target executions crashes seconds
for t in $targets; do
  work=$build/corpus/$t
  mkdir -p "$work"
  log=$build/$t.log
  start=$(date +%s)
  rc=0
  # -max_len 4096: the inputs are short texts and small files; -rss_limit_mb guards the 2-core CI machines.
  "$build/fuzz/fuzz_$t" "$work" "$root/fuzz/corpus/$t" -max_total_time="$secs" -max_len=4096 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/crash-$t-" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  # libFuzzer stops at the first crash (leak, timeout, out-of-memory): 1 when the run failed, else 0.
  crashes=0
  if ((rc != 0)); then crashes=1; fi
  printf '%-14s %12s %8s %8s\n' "$t" "${execs:-?}" "$crashes" "$took"
  if ((rc != 0)); then
    status=1
    echo "fuzz: $t exited $rc; see $log" >&2
    grep -m5 -E 'ERROR: |SUMMARY: |runtime error' "$log" >&2 || true
    ls "$build"/*-"$t"-* 2>/dev/null >&2 || true
  fi
done
exit "$status"
