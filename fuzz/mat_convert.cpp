// libFuzzer target: the NYUv2 .mat conversion's own code (apps/nyuv2/convert.cpp: every check of classes,
// dims, class maps, splits, label and depth values; resizing; normals; writing), structure-aware. The input
// bytes describe the four .mat files (nyu_depth_v2_labeled.mat, classMapping40.mat, class13Mapping.mat,
// splits.mat): which variables exist, their classes, dims and values, mostly well-formed and sometimes not.
// They are served by an in-memory MatSource, so libmatio (matfile.cpp is compiled as its stub) and its
// parser are left out on purpose: a crash in a C library's parser would not be ours to fix, and the files we
// read are the official ones. A gn::Error is the accepted refusal; anything else is a bug.
//
// Properties checked beyond "no crash":
//  - refused: no train/ or val/ folder and no conversion.json is left (no half-converted set);
//  - converted: train and val are disjoint, non-empty, within 1..N; every sample's four .npy files exist with
//    the documented shapes; images in [0, 1], labels in -1..12, depths finite and >= 0, normals unit or zero;
//    without resizing, every label, depth and image value equals the stored one through the class maps
//    (computed here independently).
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "apps/common/npy.h"
#include "apps/nyuv2/convert.h"
#include "apps/nyuv2/matfile.h"
#include "core/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fs = std::filesystem;
using gn::nyuv2::MatArray;
using gn::nyuv2::MatClass;
using gn::nyuv2::MatVarInfo;

namespace {

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "mat_convert: property failed (line %d): %s\n", __LINE__, #cond); \
      __builtin_trap();                                                                      \
    }                                                                                        \
  } while (0)

struct MemVar {
  MatVarInfo info;
  std::vector<double> values;            // column-major, numeric classes only
  std::map<std::string, MemVar> fields;  // a 1x1 struct's fields
};
using MemFile = std::map<std::string, MemVar>;

// The same contract (and refusals) as MatFile, over variables held in memory.
class MemoryMat final : public gn::nyuv2::MatSource {
 public:
  MemoryMat(fs::path path, const MemFile& vars) : path_(std::move(path)), vars_(vars) {}
  const fs::path& path() const override { return path_; }
  std::string version() const override { return "in memory (fuzz)"; }
  std::optional<MatVarInfo> info(const std::string& name) override {
    const auto it = vars_.find(name);
    if (it == vars_.end()) return std::nullopt;
    return it->second.info;
  }
  MatArray read(const std::string& name) override { return array(var(name), name); }
  MatArray read_field(const std::string& struct_name, const std::string& field) override {
    const MemVar& s = var(struct_name);
    GN_CHECK(s.info.cls == MatClass::Struct, "{}: '{}' is not a struct", path_.string(), struct_name);
    GN_CHECK(s.info.numel() == 1, "{}: '{}' is not a 1x1 struct", path_.string(), struct_name);
    const auto it = s.fields.find(field);
    GN_CHECK(it != s.fields.end(), "{}: struct '{}' has no field '{}'", path_.string(), struct_name, field);
    return array(it->second, struct_name + "." + field);
  }
  std::vector<double> read_slab(const std::string& name, const std::vector<std::int64_t>& start,
                                const std::vector<std::int64_t>& count) override {
    const MemVar& v = var(name);
    GN_CHECK(gn::nyuv2::mat_class_is_numeric(v.info.cls) && !v.info.complex, "{}: '{}' is not real numeric",
             path_.string(), name);
    const std::size_t rank = v.info.dims.size();
    GN_CHECK(start.size() == rank && count.size() == rank, "{}: '{}' has rank {}", path_.string(), name, rank);
    std::int64_t n = 1;
    for (std::size_t d = 0; d < rank; ++d) {
      GN_CHECK(start[d] >= 0 && count[d] >= 1 && start[d] + count[d] <= v.info.dims[d], "{}: '{}': slab out of range",
               path_.string(), name);
      n *= count[d];
    }
    std::vector<double> out;
    out.reserve(static_cast<std::size_t>(n));
    std::vector<std::int64_t> at(rank, 0);  // column-major walk over the slab
    for (std::int64_t k = 0; k < n; ++k) {
      std::int64_t linear = 0, stride = 1;
      for (std::size_t d = 0; d < rank; ++d) {
        linear += (start[d] + at[d]) * stride;
        stride *= v.info.dims[d];
      }
      out.push_back(v.values[static_cast<std::size_t>(linear)]);
      for (std::size_t d = 0; d < rank && ++at[d] == count[d]; ++d) at[d] = 0;
    }
    return out;
  }

 private:
  const MemVar& var(const std::string& name) const {
    const auto it = vars_.find(name);
    GN_CHECK(it != vars_.end(), "{}: has no variable '{}'", path_.string(), name);
    return it->second;
  }
  MatArray array(const MemVar& v, const std::string& what) const {
    GN_CHECK(gn::nyuv2::mat_class_is_numeric(v.info.cls), "{}: '{}' is not numeric", path_.string(), what);
    GN_CHECK(!v.info.complex, "{}: '{}' is complex", path_.string(), what);
    return MatArray{v.info, v.values};
  }

  fs::path path_;
  const MemFile& vars_;
};

constexpr std::int64_t kMaxValues = 1 << 14;  // per variable: keeps one execution fast

// A value as the class would store it (integers rounded and clamped, single rounded to float).
double as_class(double x, MatClass c) {
  auto clamp_int = [&](double lo, double hi) { return std::isfinite(x) ? std::clamp(std::round(x), lo, hi) : 0.0; };
  switch (c) {
    case MatClass::Double:
      return x;
    case MatClass::Single:  // beyond float's range: +-inf, as MATLAB's single() (a plain cast would be UB)
      if (std::isfinite(x) && std::abs(x) > std::numeric_limits<float>::max()) return std::copysign(HUGE_VAL, x);
      return static_cast<double>(static_cast<float>(x));
    case MatClass::Int8:
      return clamp_int(-128, 127);
    case MatClass::UInt8:
      return clamp_int(0, 255);
    case MatClass::Int16:
      return clamp_int(-32768, 32767);
    case MatClass::UInt16:
      return clamp_int(0, 65535);
    case MatClass::Int32:
      return clamp_int(-2147483648.0, 2147483647.0);
    case MatClass::UInt32:
      return clamp_int(0, 4294967295.0);
    case MatClass::Int64:
      return clamp_int(-9.2e18, 9.2e18);
    case MatClass::UInt64:
      return clamp_int(0, 1.8e19);
    default:
      return 0;
  }
}

class Builder {
 public:
  explicit Builder(FuzzedDataProvider& p) : p_(p) {}

  MatClass cls(MatClass usual) {
    if (p_.ConsumeIntegralInRange<int>(0, 15) != 0) return usual;
    return static_cast<MatClass>(p_.ConsumeIntegralInRange<int>(0, static_cast<int>(MatClass::Other)));
  }
  std::vector<std::int64_t> dims(std::vector<std::int64_t> usual) {
    switch (p_.ConsumeIntegralInRange<int>(0, 9)) {
      case 0: {  // anything small, including 0 and rank 0
        std::vector<std::int64_t> d(p_.ConsumeIntegralInRange<std::size_t>(0, 5));
        for (auto& x : d) x = p_.ConsumeIntegralInRange<std::int64_t>(0, 7);
        return d;
      }
      case 1:  // one dimension off by a little
        if (!usual.empty()) {
          auto& x = usual[p_.ConsumeIntegralInRange<std::size_t>(0, usual.size() - 1)];
          x = std::max<std::int64_t>(0, x + p_.ConsumeIntegralInRange<int>(-2, 2));
        }
        return usual;
      case 2:  // MATLAB's dropped trailing singletons
        while (usual.size() > 2 && usual.back() == 1) usual.pop_back();
        return usual;
      case 3:  // a trailing singleton too many
        usual.push_back(1);
        return usual;
      default:
        return usual;
    }
  }
  // A value drawn mostly from [lo, hi] (whole numbers when `whole`), sometimes one of the troublemakers.
  double value(double lo, double hi, bool whole) {
    if (p_.ConsumeIntegralInRange<int>(0, 31) == 0) {
      static constexpr double kOdd[] = {std::numeric_limits<double>::quiet_NaN(),
                                        std::numeric_limits<double>::infinity(),
                                        -std::numeric_limits<double>::infinity(),
                                        -1,
                                        0.5,
                                        1e300,
                                        -0.0,
                                        4.9e-324,
                                        65536,
                                        1e19};
      return kOdd[p_.ConsumeIntegralInRange<std::size_t>(0, std::size(kOdd) - 1)];
    }
    if (whole)
      return static_cast<double>(
          p_.ConsumeIntegralInRange<std::int64_t>(static_cast<std::int64_t>(lo), static_cast<std::int64_t>(hi)));
    return lo + (hi - lo) * p_.ConsumeProbability<double>();
  }
  MemVar array(MatClass usual_cls, std::vector<std::int64_t> usual_dims, double lo, double hi, bool whole) {
    MemVar v;
    v.info.cls = cls(usual_cls);
    v.info.dims = dims(std::move(usual_dims));
    v.info.complex = p_.ConsumeIntegralInRange<int>(0, 63) == 0;
    std::int64_t n = 1;
    for (std::int64_t d : v.info.dims) n = std::min(kMaxValues + 1, n * std::max<std::int64_t>(d, 0));
    if (n > kMaxValues) v.info.dims = {kMaxValues};  // keep it small: the wrong dims are refused anyway
    if (gn::nyuv2::mat_class_is_numeric(v.info.cls)) {
      v.values.resize(static_cast<std::size_t>(v.info.numel()));
      for (double& x : v.values) x = as_class(value(lo, hi, whole), v.info.cls);
    }
    return v;
  }
  bool flip(int one_in) { return p_.ConsumeIntegralInRange<int>(0, one_in - 1) == 0; }
  std::int64_t in(std::int64_t lo, std::int64_t hi) { return p_.ConsumeIntegralInRange<std::int64_t>(lo, hi); }

 private:
  FuzzedDataProvider& p_;
};

// The label map the converter should apply, computed from the fuzzed files (empty: not well-formed enough to
// predict, and then only the generic properties are checked).
std::vector<std::int64_t> expected_lut(int maps, const MemFile& f40, const MemFile& f13) {
  std::vector<std::int64_t> lut{-1};
  if (maps == 0) {
    for (int c = 1; c <= 13; ++c) lut.push_back(c - 1);
    return lut;
  }
  const auto s = f13.find("classMapping13");
  if (s == f13.end()) return {};
  const auto l13 = s->second.fields.find("labels13");
  if (l13 == s->second.fields.end()) return {};
  const std::vector<double>& to13 = l13->second.values;
  if (maps == 1) {
    for (double v : to13) lut.push_back(static_cast<std::int64_t>(v) - 1);
    return lut;
  }
  const auto m = f40.find("mapClass");
  if (m == f40.end()) return {};
  for (double v : m->second.values) {
    const auto k = static_cast<std::size_t>(v);
    if (k < 1 || k > to13.size()) return {};
    lut.push_back(static_cast<std::int64_t>(to13[k - 1]) - 1);
  }
  return lut;
}

const fs::path& scratch() {
  static const fs::path dir = [] {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("gn_fuzz_mat_convert_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

void check_converted(const gn::nyuv2::ConvertSpec& spec, const gn::nyuv2::ConvertResult& r, const MemFile& labeled,
                     std::int64_t N, const std::vector<std::int64_t>& lut) {
  FUZZ_CHECK(!r.train.empty() && !r.val.empty());
  std::vector<bool> used(static_cast<std::size_t>(N) + 1, false);
  for (const auto* ids : {&r.train, &r.val})
    for (std::int64_t i : *ids) {
      FUZZ_CHECK(i >= 1 && i <= N && !used[static_cast<std::size_t>(i)]);
      used[static_cast<std::size_t>(i)] = true;
    }
  FUZZ_CHECK(fs::exists(spec.out / "conversion.json"));
  const std::int64_t H = r.height, W = r.width, Ho = r.out_height, Wo = r.out_width;
  const bool exact = Ho == H && Wo == W && !lut.empty();
  for (const auto& [split, ids] : {std::pair{"train", &r.train}, std::pair{"val", &r.val}}) {
    for (std::size_t i = 0; i < ids->size(); ++i) {
      const fs::path dir = spec.out / split;
      const std::string name = std::to_string(i) + ".npy";
      const gn::Tensor image = gn::app::read_npy(dir / "image" / name).tensor;
      const gn::Tensor label = gn::app::read_npy(dir / "label" / name).tensor;
      const gn::Tensor depth = gn::app::read_npy(dir / "depth" / name).tensor;
      const gn::Tensor normal = gn::app::read_npy(dir / "normal" / name).tensor;
      FUZZ_CHECK(image.shape() == (gn::Shape{Ho, Wo, 3}) && image.dtype() == gn::DType::Float32);
      FUZZ_CHECK(label.shape() == (gn::Shape{Ho, Wo}) && label.dtype() == gn::DType::Int64);
      FUZZ_CHECK(depth.shape() == (gn::Shape{Ho, Wo, 1}) && depth.dtype() == gn::DType::Float32);
      FUZZ_CHECK(normal.shape() == (gn::Shape{Ho, Wo, 3}) && normal.dtype() == gn::DType::Float32);
      const float* im = image.data<float>();
      const std::int64_t* lb = label.data<std::int64_t>();
      const float* dp = depth.data<float>();
      const float* nm = normal.data<float>();
      const std::int64_t n = (*ids)[i] - 1;
      for (std::int64_t p = 0; p < Ho * Wo; ++p) {
        for (int c = 0; c < 3; ++c) FUZZ_CHECK(im[p * 3 + c] >= 0 && im[p * 3 + c] <= 1);
        FUZZ_CHECK(lb[p] >= -1 && lb[p] <= 12);
        FUZZ_CHECK(std::isfinite(dp[p]) && dp[p] >= 0);
        const double len = std::hypot(nm[p * 3], nm[p * 3 + 1], nm[p * 3 + 2]);
        FUZZ_CHECK(len == 0 || std::abs(len - 1) < 1e-4);
        if (!exact) continue;
        const std::int64_t r0 = p / Wo, c0 = p % Wo, at = r0 + H * (c0 + W * n);  // column-major (H, W, N)
        const double stored = labeled.at("labels").values[static_cast<std::size_t>(at)];
        FUZZ_CHECK(stored >= 0 && stored < static_cast<double>(lut.size()));
        FUZZ_CHECK(lb[p] == lut[static_cast<std::size_t>(stored)]);
        FUZZ_CHECK(dp[p] == static_cast<float>(labeled.at("depths").values[static_cast<std::size_t>(at)]));
        for (int c = 0; c < 3; ++c) {
          const double v = labeled.at("images").values[static_cast<std::size_t>(r0 + H * (c0 + W * (c + 3 * n)))];
          FUZZ_CHECK(im[p * 3 + c] == static_cast<float>(v / 255.0));
        }
      }
    }
  }
}

}  // namespace

// With GN_FUZZ_MAT_STATS set, how many inputs converted and how many were refused is printed at exit (to see
// that both sides are exercised: `fuzz_mat_convert CORPUS -runs=0`).
std::int64_t g_converted = 0, g_refused = 0;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
#ifdef _OPENMP
  omp_set_num_threads(1);  // one execution, one thread: findings reproduce
#endif
  if (std::getenv("GN_FUZZ_MAT_STATS"))
    std::atexit([] {
      std::fprintf(stderr, "mat_convert: %lld converted, %lld refused\n", static_cast<long long>(g_converted),
                   static_cast<long long>(g_refused));
    });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider p(data, size);
  Builder b(p);
  const std::int64_t H = b.in(1, 6), W = b.in(1, 6), N = b.in(1, 5);
  const int maps = static_cast<int>(b.in(0, 2));        // none (13-class labels), 13 only (40-class), 40 and 13
  const std::int64_t K = b.in(1, 48), M = b.in(1, 45);  // mapClass and labels13 lengths (official: 894, 40)

  MemFile labeled, f40, f13, splits;
  labeled["images"] = b.array(MatClass::UInt8, {H, W, 3, N}, 0, 255, true);
  labeled["depths"] = b.array(MatClass::Single, {H, W, N}, 0, 10, false);
  labeled["labels"] = b.array(MatClass::UInt16, {H, W, N}, 0,
                              static_cast<double>(maps == 0   ? 13
                                                  : maps == 1 ? M
                                                              : K),
                              true);
  for (const char* name : {"images", "depths", "labels"})
    if (b.flip(40)) labeled.erase(name);
  if (maps == 2)
    f40["mapClass"] = b.array(MatClass::Double, {1, K}, 1, static_cast<double>(std::min<std::int64_t>(40, M)), true);
  if (maps >= 1) {
    MemVar s;
    s.info.cls = b.flip(20) ? MatClass::Double : MatClass::Struct;
    s.info.dims = b.flip(20) ? std::vector<std::int64_t>{1, 2} : std::vector<std::int64_t>{1, 1};
    if (!b.flip(20)) s.fields["labels13"] = b.array(MatClass::Double, {M, 1}, 1, 13, true);
    f13["classMapping13"] = s;
  }
  const bool with_splits = b.flip(2);
  if (with_splits) {
    // A permutation of 1..N cut in two, sometimes spoiled by the value picker (repeats, out of range, 0.5).
    std::vector<std::int64_t> order(static_cast<std::size_t>(N));
    for (std::int64_t i = 0; i < N; ++i) order[static_cast<std::size_t>(i)] = i + 1;
    for (std::size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[static_cast<std::size_t>(b.in(0, static_cast<std::int64_t>(i) - 1))]);
    const auto cut = static_cast<std::size_t>(b.in(0, N));
    for (const auto& [name, lo, hi] :
         {std::tuple{"trainNdxs", std::size_t{0}, cut}, std::tuple{"testNdxs", cut, order.size()}}) {
      MemVar v = b.array(MatClass::Double, {static_cast<std::int64_t>(hi - lo), 1}, 1, static_cast<double>(N), true);
      if (gn::nyuv2::mat_class_is_numeric(v.info.cls) && v.values.size() == hi - lo && !b.flip(8))
        for (std::size_t i = lo; i < hi; ++i) v.values[i - lo] = as_class(static_cast<double>(order[i]), v.info.cls);
      if (!b.flip(40)) splits[name] = v;
    }
  }

  gn::nyuv2::ConvertSpec spec;
  spec.mat = "nyu_depth_v2_labeled.mat";
  if (maps == 2) spec.class_map_40 = "classMapping40.mat";
  if (maps >= 1) spec.class_map_13 = "class13Mapping.mat";
  if (with_splits) spec.splits = "splits.mat";
  if (b.flip(3)) {
    spec.height = b.in(-1, 9);
    spec.width = b.in(-1, 9);
  }
  spec.out = scratch() / "out";
  spec.open = [&](const fs::path& path) -> std::unique_ptr<gn::nyuv2::MatSource> {
    for (const auto& [name, file] :
         {std::pair{"nyu_depth_v2_labeled.mat", &labeled}, std::pair{"classMapping40.mat", &f40},
          std::pair{"class13Mapping.mat", &f13}, std::pair{"splits.mat", &splits}})
      if (path == name) return std::make_unique<MemoryMat>(path, *file);
    GN_FAIL("{}: no such file", path.string());
  };

  std::error_code ec;
  fs::remove_all(spec.out, ec);
  fs::create_directories(spec.out);
  try {
    const gn::nyuv2::ConvertResult r = gn::nyuv2::convert_nyuv2_mat(spec);
    check_converted(spec, r, labeled, N, expected_lut(maps, f40, f13));
    ++g_converted;
  } catch (const gn::Error&) {
    ++g_refused;
    FUZZ_CHECK(!fs::exists(spec.out / "train") && !fs::exists(spec.out / "val"));
    FUZZ_CHECK(!fs::exists(spec.out / "conversion.json"));
  }
  fs::remove_all(spec.out, ec);
  return 0;
}
