#!/usr/bin/env bash
# Runs an MPI job that must FAIL (a rank throws or exits while the others wait in a collective) and checks
# that it ends on its own, with a non-zero exit code, within a time limit: a hang is the bug this catches.
#   expect_job_failure.sh <seconds> <expected text or ""> <mpirun command line...>
set -uo pipefail
limit=$1 want=$2
shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
rc=$?
tail -n 30 "$log"
# 124/137 is timeout's verdict only when the limit was reached: mpirun itself exits 137 when a rank was
# killed by SIGKILL (the kill -9 test), which is the job ending as it should.
if (((rc == 124 || rc == 137) && SECONDS - start >= limit)); then
  echo "FAIL: the job did not end within ${limit}s (a rank failed and the others hung)"
  exit 1
fi
if ((rc == 0)); then
  echo "FAIL: the job exited 0 although a rank failed"
  exit 1
fi
if [[ -n $want ]] && ! grep -qF -- "$want" "$log"; then
  echo "FAIL: the output does not say '$want'"
  exit 1
fi
echo "OK: the job ended with exit code $rc"
