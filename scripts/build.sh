#!/usr/bin/env bash
# Configures and builds into ./build (Release). Extra arguments go to CMake, e.g. -DGRADNORM_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$jobs"
