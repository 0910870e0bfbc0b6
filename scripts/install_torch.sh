#!/usr/bin/env bash
# Installs Debian's PyTorch (python3-torch, 1.13.1 on bookworm) for the PyTorch
# reference benchmark (benchmarks/toy_step_torch.py), together with OpenBLAS so
# that torch's BLAS calls do not fall back to the slow reference libblas3.
# Idempotent: apt is skipped when everything is already present.
# Use Debian's interpreter afterwards: /usr/bin/python3 (a pyenv python3 on
# PATH will not see the apt-installed module).
set -euo pipefail

packages=(python3-torch libopenblas0-pthread)
blas_alt=libblas.so.3-x86_64-linux-gnu
lapack_alt=liblapack.so.3-x86_64-linux-gnu

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_torch: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# OpenBLAS registers a higher alternatives priority than the reference BLAS,
# so auto mode picks it; force it in case someone pinned the alternative.
for alt in "$blas_alt" "$lapack_alt"; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-pthread | head -n 1 || true)
  if [ -n "$target" ] && [ "$(readlink -f "/etc/alternatives/$alt")" != "$(readlink -f "$target")" ]; then
    echo "install_torch: pointing $alt at $target"
    $sudo_cmd update-alternatives --set "$alt" "$target" >/dev/null
  fi
done

echo "install_torch: BLAS in use: $(readlink -f "/etc/alternatives/$blas_alt")"
/usr/bin/python3 -c 'import torch; print("install_torch: torch", torch.__version__)'
