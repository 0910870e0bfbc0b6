#!/usr/bin/env bash
# Fills third_party_carry/ (git-ignored) with the build dependencies the GPU machine lacks, taken from
# this machine's Debian packages, as one CMake prefix:
#
#   cmake -S . -B build-gpu -DCMAKE_PREFIX_PATH="$PWD/third_party_carry" ...
#
# then finds Eigen3, fmt, CLI11, nlohmann_json, GTest (with GMock) and benchmark in it. The GPU machine
# has nvcc, CMake, ninja, a host compiler with OpenMP (gcc's libgomp) and PyTorch's cuDNN/NCCL wheels,
# but no package registry; scripts/gpu_check.sh runs there. See README.md, "Running on a GPU".
#
# Layout of the carry (about 15 MB; the device tool carries at most 64 MiB):
#   include/        Eigen (include/eigen3), fmt, CLI11, nlohmann, benchmark, gtest, gmock headers
#   cmake/          hand-written config shims, one pair per package (<Name>Config.cmake + version file);
#                   they locate the carry from their own path, so the folder can move
#   lib/            libgtest*.a, libgmock*.a (built here from /usr/src/googletest) and
#                   lib/cmake/GTest (GoogleTest's own installed config, found before cmake/);
#                   libbenchmark.so.1debian (Debian's prebuilt shared library: see the risk below)
#   src/googletest/ GoogleTest's sources, so gpu_check.sh can rebuild it with the GPU machine's compiler
#   MANIFEST.txt    versions, origins, sizes
#
# Choices:
#   fmt       header-only (fmt::fmt carries FMT_HEADER_ONLY=1): no compiled library to mismatch.
#   GTest     built from source here (Release, PIC) and installed with `cmake --install`, so the
#             project's find_package(GTest) works unchanged; gpu_check.sh rebuilds it from src/ with
#             the GPU machine's own compiler first and uses this build only if that fails.
#   benchmark Debian ships no source for Google Benchmark (libbenchmark-dev has only the shared library,
#             headers and a CMake config), so the prebuilt libbenchmark.so.1.7.1 is carried. RISK: it
#             needs GLIBC_2.32 and GLIBCXX_3.4.30 (libstdc++ of GCC >= 12) on the GPU machine; an older
#             system fails to link or load it. gpu_check.sh then reports the benchmark targets as failed
#             and still builds and runs everything else.
#
# Idempotent: a stamp of the package versions and this script's checksum skips the work when nothing
# changed (--force redoes it). The carry is built in a staging folder and swapped in whole, so an
# interrupted run never leaves a half-filled carry.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
carry=$root/third_party_carry
force=0
[[ ${1:-} == --force ]] && force=1

multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
libdir=/usr/lib/$multiarch

# ---- the Debian packages everything comes from (scripts/setup.sh installs them) ----
need_files=(
  /usr/include/eigen3/Eigen/Core
  /usr/include/fmt/format.h /usr/include/fmt/format-inl.h
  /usr/include/CLI/CLI.hpp
  /usr/include/nlohmann/json.hpp
  /usr/src/googletest/CMakeLists.txt
  /usr/include/benchmark/benchmark.h "$libdir/libbenchmark.so"
)
for f in "${need_files[@]}"; do
  if [[ ! -e $f ]]; then
    echo "gather: $f is missing; installing the Debian packages (scripts/setup.sh)"
    bash scripts/setup.sh
    break
  fi
done
for f in "${need_files[@]}"; do
  [[ -e $f ]] || { echo "gather: ERROR: $f still missing after scripts/setup.sh" >&2; exit 1; }
done

# Upstream version of a Debian package: "9.1.0+ds1-2" -> "9.1.0".
version_of() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | sed -E 's/^[0-9]+://; s/[-+~].*//'; }
v_eigen=$(version_of libeigen3-dev)
v_fmt=$(version_of libfmt-dev)
v_cli11=$(version_of libcli11-dev)
v_json=$(version_of nlohmann-json3-dev)
v_gtest=$(version_of googletest)
v_bench=$(version_of libbenchmark-dev)
for v in v_eigen v_fmt v_cli11 v_json v_gtest v_bench; do
  [[ -n ${!v} ]] || { echo "gather: ERROR: cannot read the Debian version for $v" >&2; exit 1; }
done
bench_so=$(readlink -f "$libdir/libbenchmark.so")  # libbenchmark.so.1.7.1
bench_soname=$(objdump -p "$bench_so" | awk '/SONAME/ {print $2}')
[[ -n $bench_soname ]] || bench_soname=$(basename "$bench_so")

stamp="eigen=$v_eigen fmt=$v_fmt cli11=$v_cli11 json=$v_json gtest=$v_gtest benchmark=$v_bench \
cxx=$(c++ -dumpfullversion 2>/dev/null) script=$(sha256sum "$0" | cut -c1-16)"
if ((!force)) && [[ -f $carry/.stamp && $(cat "$carry/.stamp") == "$stamp" ]]; then
  echo "gather: third_party_carry is up to date ($stamp); --force to rebuild"
  echo "gather: third_party_carry holds $(du -sh "$carry" | cut -f1) in all"
  exit 0
fi

work=$(mktemp -d /tmp/gn-gather.XXXXXX)
stage=$work/third_party_carry  # outside the repo, so an interrupted run leaves nothing to carry
trap 'rm -rf "$work"' EXIT
mkdir -p "$stage"/{include,lib,cmake,src}

echo "gather: headers (Eigen $v_eigen, fmt $v_fmt, CLI11 $v_cli11, nlohmann_json $v_json, benchmark $v_bench)"
cp -a /usr/include/eigen3 "$stage/include/"
cp -a /usr/include/fmt /usr/include/CLI /usr/include/nlohmann /usr/include/benchmark "$stage/include/"

echo "gather: GoogleTest $v_gtest sources (without their own tests, samples and docs)"
mkdir -p "$stage/src/googletest"
(cd /usr/src/googletest && tar --exclude='*/test' --exclude='*/samples' --exclude='*/docs' -cf - .) |
  tar -xf - -C "$stage/src/googletest"

echo "gather: building GoogleTest $v_gtest from source into the carry (Release, static, PIC)"
cmake_gen=()
command -v ninja >/dev/null && cmake_gen=(-G Ninja)
cmake -S "$stage/src/googletest" -B "$work/gtest-build" "${cmake_gen[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$stage" -DCMAKE_INSTALL_LIBDIR=lib \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_GMOCK=ON -DINSTALL_GTEST=ON -DBUILD_SHARED_LIBS=OFF \
  >"$work/gtest-configure.log" 2>&1 || { cat "$work/gtest-configure.log"; exit 1; }
cmake --build "$work/gtest-build" -j "$(nproc)" >"$work/gtest-build.log" 2>&1 || { cat "$work/gtest-build.log"; exit 1; }
cmake --install "$work/gtest-build" >"$work/gtest-install.log" 2>&1 || { cat "$work/gtest-install.log"; exit 1; }
strip --strip-debug "$stage"/lib/lib*.a
rm -rf "$stage/lib/pkgconfig"

echo "gather: Google Benchmark $v_bench (Debian's prebuilt $(basename "$bench_so"); no source is packaged)"
cp "$bench_so" "$stage/lib/$bench_soname"  # a plain file under the SONAME: no links to carry
[[ -f $libdir/libbenchmark_main.a ]] && cp "$libdir/libbenchmark_main.a" "$stage/lib/"

# ---- config shims ----
# A version file with CMake's SameMajorVersion rule (what write_basic_package_version_file writes).
write_version() {  # <file> <version>
  cat >"$1" <<EOF
# Written by scripts/gather_gpu_deps.sh: same-major-version compatibility.
set(PACKAGE_VERSION "$2")
if(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  string(REGEX MATCH "^[0-9]+" _gn_major "\${PACKAGE_VERSION}")
  if(NOT DEFINED PACKAGE_FIND_VERSION_MAJOR OR PACKAGE_FIND_VERSION_MAJOR STREQUAL "" OR
     PACKAGE_FIND_VERSION_MAJOR STREQUAL _gn_major)
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  else()
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  endif()
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
  unset(_gn_major)
endif()
EOF
}
header=$(
  cat <<'EOF'
# Written by scripts/gather_gpu_deps.sh for third_party_carry/ (a relocatable CMake prefix).
get_filename_component(_gn_carry "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
EOF
)

cat >"$stage/cmake/Eigen3Config.cmake" <<EOF
$header
# Eigen $v_eigen, headers only (from Debian's libeigen3-dev).
if(NOT TARGET Eigen3::Eigen)
  add_library(Eigen3::Eigen INTERFACE IMPORTED)
  set_target_properties(Eigen3::Eigen PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${_gn_carry}/include/eigen3")
endif()
set(EIGEN3_FOUND TRUE)
set(EIGEN3_INCLUDE_DIR "\${_gn_carry}/include/eigen3")
set(EIGEN3_INCLUDE_DIRS "\${EIGEN3_INCLUDE_DIR}")
set(EIGEN3_VERSION_STRING "$v_eigen")
unset(_gn_carry)
EOF
write_version "$stage/cmake/Eigen3ConfigVersion.cmake" "$v_eigen"

cat >"$stage/cmake/fmt-config.cmake" <<EOF
$header
# fmt $v_fmt used header-only: fmt::fmt defines FMT_HEADER_ONLY=1, so nothing compiled is carried.
foreach(_gn_t fmt::fmt fmt::fmt-header-only)
  if(NOT TARGET \${_gn_t})
    add_library(\${_gn_t} INTERFACE IMPORTED)
    set_target_properties(\${_gn_t} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "\${_gn_carry}/include"
      INTERFACE_COMPILE_DEFINITIONS "FMT_HEADER_ONLY=1"
      INTERFACE_COMPILE_FEATURES "cxx_variadic_templates")
  endif()
endforeach()
unset(_gn_t)
unset(_gn_carry)
EOF
write_version "$stage/cmake/fmt-config-version.cmake" "$v_fmt"

cat >"$stage/cmake/CLI11Config.cmake" <<EOF
$header
# CLI11 $v_cli11, headers only.
if(NOT TARGET CLI11::CLI11)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "\${_gn_carry}/include"
    INTERFACE_COMPILE_FEATURES "cxx_std_11")
endif()
unset(_gn_carry)
EOF
write_version "$stage/cmake/CLI11ConfigVersion.cmake" "$v_cli11"

cat >"$stage/cmake/nlohmann_jsonConfig.cmake" <<EOF
$header
# nlohmann_json $v_json, headers only.
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "\${_gn_carry}/include"
    INTERFACE_COMPILE_FEATURES "cxx_std_11")
endif()
unset(_gn_carry)
EOF
write_version "$stage/cmake/nlohmann_jsonConfigVersion.cmake" "$v_json"

cat >"$stage/cmake/benchmarkConfig.cmake" <<EOF
$header
# Google Benchmark $v_bench: Debian's prebuilt shared library (no source is packaged). Needs GLIBC_2.32 and
# GLIBCXX_3.4.30 where it is linked and run; executables find it through their build RPATH.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
if(NOT TARGET benchmark::benchmark)
  add_library(benchmark::benchmark SHARED IMPORTED)
  set_target_properties(benchmark::benchmark PROPERTIES
    IMPORTED_LOCATION "\${_gn_carry}/lib/$bench_soname"
    IMPORTED_SONAME "$bench_soname"
    INTERFACE_INCLUDE_DIRECTORIES "\${_gn_carry}/include"
    INTERFACE_LINK_LIBRARIES "Threads::Threads")
endif()
if(NOT TARGET benchmark::benchmark_main AND EXISTS "\${_gn_carry}/lib/libbenchmark_main.a")
  add_library(benchmark::benchmark_main STATIC IMPORTED)
  set_target_properties(benchmark::benchmark_main PROPERTIES
    IMPORTED_LOCATION "\${_gn_carry}/lib/libbenchmark_main.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "CXX"
    INTERFACE_LINK_LIBRARIES "benchmark::benchmark")
endif()
unset(_gn_carry)
EOF
write_version "$stage/cmake/benchmarkConfigVersion.cmake" "$v_bench"

# ---- manifest, then swap the staging folder in ----
bench_needs=$(objdump -T "$bench_so" | grep -oE 'GLIBC_[0-9.]+|GLIBCXX_[0-9.]+' | sort -uV |
  awk -F_ '{top[$1]=$0} END {print top["GLIBC"], top["GLIBCXX"]}')
{
  echo "third_party_carry: written by scripts/gather_gpu_deps.sh on $(date -u +%Y-%m-%dT%H:%MZ)"
  # shellcheck source=/dev/null
  echo "from: $(. /etc/os-release && echo "$PRETTY_NAME"), $(c++ --version | head -1)"
  echo
  echo "Eigen3         $v_eigen   headers                 include/eigen3, cmake/Eigen3Config.cmake"
  echo "fmt            $v_fmt   header-only             include/fmt, cmake/fmt-config.cmake"
  echo "CLI11          $v_cli11   headers                 include/CLI, cmake/CLI11Config.cmake"
  echo "nlohmann_json  $v_json  headers                 include/nlohmann, cmake/nlohmann_jsonConfig.cmake"
  echo "GTest, GMock   $v_gtest  built here from source  lib/libg*.a, lib/cmake/GTest; sources in src/googletest"
  echo "benchmark      $v_bench   Debian's prebuilt .so   lib/$bench_soname (needs $bench_needs), cmake/benchmarkConfig.cmake"
  echo
  echo "Use: cmake -DCMAKE_PREFIX_PATH=\$PWD/third_party_carry ...   (OpenMP comes from the host compiler: gcc's libgomp)"
} >"$stage/MANIFEST.txt"
echo "$stamp" >"$stage/.stamp"

rm -rf "$carry"
mv "$stage" "$carry"
cat "$carry/MANIFEST.txt"
echo
for d in include lib src cmake; do du -sh "$carry/$d"; done
echo "gather: third_party_carry holds $(du -sh "$carry" | cut -f1) in all"
