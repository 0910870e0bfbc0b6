#!/usr/bin/env bash
# Installs what the CPU build, the tests and the toy app need, from Debian's packages (OpenMPI: the mpi
# communicator and its multi-rank tests, docs/data-parallel.md; libmatio, with HDF5 for MATLAB v7.3: the
# NYUv2 .mat converter, apps/nyuv2/README.md "Converting the real data").
# Idempotent: skips apt entirely when everything is already present.
set -euo pipefail
packages=(
  build-essential cmake ninja-build
  libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  python3-matplotlib
  openmpi-bin libopenmpi-dev
  libmatio-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: dependencies present"
# Optional, from PyPI (Debian has no package for it): the Python `safetensors` reader, which
# tests/nn/safetensors_test.cpp uses to check that other tools read our checkpoints. Never fatal: without
# it (offline, no pip, an externally managed Python) that one test is SKIPPED with the reason.
if ! python3 -c 'import numpy, safetensors.numpy' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check --timeout 15 --retries 0 safetensors numpy >/dev/null 2>&1 &&
    echo "setup: installed the Python safetensors package (optional)" ||
    echo "setup: the Python safetensors package is not installed (optional; its interop test will skip)"
fi
