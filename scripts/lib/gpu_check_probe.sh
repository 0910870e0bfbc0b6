# shellcheck shell=bash
# What the GPU machine has, for scripts/gpu_check.sh (sourced, not run): the GPU, the tools, and the CUDA
# libraries with their versions, printed before anything is built so one call tells everything. Uses
# record/log/facts from gpu_check_report.sh; sets gpu_ok, nvcc, cuda_bin, sanitizer, py, cmake_bin,
# cmake_version, ninja_bin, cxx, gen, keep_going, and exports CUDNN_ROOT / NCCL_ROOT / LD_LIBRARY_PATH.

newest() { printf '%s\n' "$@" | sort -V | tail -1; }

# 1. The GPU: nvidia-smi must answer.
probe_machine() {
  local smi
  # shellcheck source=/dev/null
  facts[OS]=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -sr)
  facts[glibc]=$(ldd --version 2>/dev/null | awk 'NR == 1 {print $NF}')
  facts[CPU]="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  gpu_ok=0
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    facts[GPU]="none (nvidia-smi not found)"
    record gpu FAIL "nvidia-smi not found: this machine has no NVIDIA driver (with GN_REQUIRE_CUDA=1 the CUDA tests fail)"
  elif ! smi=$(nvidia-smi 2>&1); then
    facts[GPU]="none (nvidia-smi failed)"
    record gpu FAIL "nvidia-smi failed: $(echo "$smi" | head -1) (no usable GPU: the CUDA tests will fail)"
  else
    echo "$smi" | tee "$work/nvidia-smi.txt"
    facts[GPU]=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)
    facts[driver]=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
    facts["CUDA (driver)"]=$(echo "$smi" | grep -oE 'CUDA Version: *[0-9.]+' | head -1 | grep -oE '[0-9.]+$')
    gpu_ok=1
    record gpu PASS "${facts[GPU]}, driver ${facts[driver]}"
  fi
}

# 2. Tools: found, never assumed.
probe_tools() {
  local c cands found=() pybin="" tv
  nvcc=$(command -v nvcc 2>/dev/null || true)
  if [[ -z $nvcc ]]; then
    cands=(/usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc /opt/cuda/bin/nvcc)
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
    "$nvcc" --version | tail -2
  else
    facts[nvcc]="not found"
  fi
  sanitizer=""
  for c in "$cuda_bin/compute-sanitizer" "$cuda_bin/../compute-sanitizer/compute-sanitizer" \
    "$(command -v compute-sanitizer 2>/dev/null)"; do
    [[ -n $c && -x $c ]] && { sanitizer=$(readlink -f "$c"); break; }
  done
  facts[compute-sanitizer]=${sanitizer:-not found}
  [[ -n $py ]] && pybin=$(dirname "$("$py" -c 'import sys; print(sys.executable)' 2>/dev/null || echo "$py")")
  cmake_bin=$(command -v cmake 2>/dev/null || true)
  [[ -z $cmake_bin && -x $pybin/cmake ]] && cmake_bin=$pybin/cmake
  ninja_bin=$(command -v ninja 2>/dev/null || true)
  [[ -z $ninja_bin && -x $pybin/ninja ]] && ninja_bin=$pybin/ninja
  cxx=$(command -v c++ 2>/dev/null || command -v g++ 2>/dev/null || true)
  facts["host compiler"]=$([[ -n $cxx ]] && "$cxx" --version | head -1 || echo "not found")
  cmake_version=""
  if [[ -n $cmake_bin ]]; then
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
  if [[ -n $py ]] && tv=$("$py" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "available" if torch.cuda.is_available() else "unavailable")' 2>/dev/null); then
    facts[torch]="$py: torch $tv"
  else
    facts[torch]="not importable by ${py:-python3 (not found)}"
  fi
  local missing=()
  [[ -z $nvcc ]] && missing+=("nvcc (looked on PATH, /usr/local/cuda*/bin, site-packages/nvidia/*/bin)")
  [[ -z $cmake_bin ]] && missing+=(cmake)
  [[ -z $cxx ]] && missing+=("a C++ compiler")
  if ((${#missing[@]})); then
    record tools FAIL "missing: ${missing[*]}"
  else
    record tools PASS "nvcc, cmake $cmake_version, $([[ -n $ninja_bin ]] && echo ninja || echo make), ${cxx##*/}; compute-sanitizer ${sanitizer:+found}${sanitizer:-missing}; ${facts[torch]}"
  fi
}

# "MAJOR.MINOR.PATCH" from a header's #defines, e.g. header_version cudnn_version.h CUDNN_MAJOR CUDNN_MINOR CUDNN_PATCHLEVEL
header_version() {
  local h=$1 v="" m n
  shift
  for m in "$@"; do
    n=$(grep -m1 -E "^#define $m +[0-9]+" "$h" 2>/dev/null | awk '{print $3}')
    [[ -n $n ]] || return 0
    v+=${v:+.}$n
  done
  echo "$v"
}

# 3. The CUDA libraries the build links or will link (cuBLAS; cuDNN and NCCL when found), from the CUDA
# toolkit beside nvcc, PyTorch's wheels (site-packages/nvidia/*) and the system folders: header and
# version, library and its real file name. cuBLAS missing fails (configure needs it); cuDNN is optional
# for the build and so is NCCL (the nccl communicator), so their absence is reported only. Their folders go
# into CUDNN_ROOT / NCCL_ROOT (CMakeLists.txt looks for cuDNN and NCCL there) and LD_LIBRARY_PATH.
probe_libraries() {
  local roots=() nv_dirs="" d
  if [[ -n $cuda_bin ]]; then
    d=$(readlink -f "$cuda_bin/..")
    roots+=("$d" "$d"/targets/*)
  fi
  if [[ -n $py ]]; then  # nvidia is a namespace package: __path__, not __file__
    nv_dirs=$("$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null ||
      "$py" -c 'import glob, site; print("\n".join(d for s in site.getsitepackages() for d in glob.glob(s + "/nvidia")))' 2>/dev/null)
    while IFS= read -r d; do [[ -n $d && -d $d ]] && roots+=("$d"/*); done <<<"$nv_dirs"
  fi
  roots+=(/usr /usr/local /usr/local/cuda)
  local name header lib_glob macros h l ver libs_found=() line
  : >"$work/libraries.txt"
  for spec in "cuBLAS|cublas_api.h|libcublas.so*|CUBLAS_VER_MAJOR CUBLAS_VER_MINOR CUBLAS_VER_PATCH" \
    "cuDNN|cudnn_version.h|libcudnn.so*|CUDNN_MAJOR CUDNN_MINOR CUDNN_PATCHLEVEL" \
    "NCCL|nccl.h|libnccl.so*|NCCL_MAJOR NCCL_MINOR NCCL_PATCH"; do
    IFS='|' read -r name header lib_glob macros <<<"$spec"
    h="" l=""
    for d in "${roots[@]}"; do
      [[ -d $d ]] || continue
      [[ -z $h ]] && h=$(find "$d/include" -maxdepth 2 -name "$header" -print -quit 2>/dev/null)
      [[ -z $l ]] && l=$(find "$d/lib64" "$d/lib" "$d/lib/x86_64-linux-gnu" -maxdepth 1 -name "$lib_glob" -print -quit 2>/dev/null)
    done
    # shellcheck disable=SC2086
    ver=$([[ -n $h ]] && header_version "$h" $macros)
    line="${ver:-version unknown}; header ${h:-not found}; library ${l:+$l -> $(basename "$(readlink -f "$l")")}"
    [[ -z $l ]] && line+="not found"
    if [[ -z $h && -z $l ]]; then line="not found"; else libs_found+=("$name ${ver:-?}"); fi
    facts[$name]=$line
    echo "$name: $line" | tee -a "$work/libraries.txt"
    if [[ -n $l && $name != cuBLAS ]]; then
      d=$(dirname "$l")
      [[ $name == cuDNN ]] && export CUDNN_ROOT=${d%/lib*}
      [[ $name == NCCL ]] && export NCCL_ROOT=${d%/lib*}
      export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
  done
  echo "searched: ${roots[*]}" >>"$work/libraries.txt"
  if [[ ${facts[cuBLAS]} == "not found" ]]; then
    record libraries FAIL "cuBLAS not found (configure needs CUDA::cublas); found: ${libs_found[*]:-none}"
  else
    record libraries INFO "${libs_found[*]}$([[ ${facts[cuDNN]} == "not found" ]] && echo "; cuDNN missing")$([[ ${facts[NCCL]} == "not found" ]] && echo "; NCCL missing") (cuDNN and NCCL optional for the build)"
  fi
}
