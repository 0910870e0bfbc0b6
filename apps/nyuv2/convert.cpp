// The official NYUv2 .mat files -> the per-sample .npy layout (convert.h). All .mat reading goes through
// matfile.h (libmatio); this file does the checking, mapping, resizing, normals and writing.
#include "apps/nyuv2/convert.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apps/common/npy.h"
#include "apps/common/parallel_for.h"
#include "apps/common/writers.h"
#include "apps/nyuv2/matfile.h"
#include "core/error.h"

namespace gn::nyuv2 {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxSide = 16384;
constexpr std::int64_t kOfficialSamples = 1449, kOfficialTrain = 795;

bool whole(double x) { return std::isfinite(x) && x == std::floor(x); }

// A variable's dims padded with trailing 1s to `rank` (MATLAB drops trailing singletons: one sample's
// (480, 640, 1) is stored as 480x640); refuses more dimensions than `rank` unless they are 1.
std::vector<std::int64_t> padded_dims(const MatVarInfo& info, std::size_t rank, const fs::path& file,
                                      const std::string& name, std::string_view expected) {
  std::vector<std::int64_t> d = info.dims;
  while (d.size() > rank && d.back() == 1) d.pop_back();
  GN_CHECK(d.size() <= rank, "{}: variable '{}' is {} (MATLAB order); expected {}", file.string(), name,
           info.dims_string(), expected);
  d.resize(rank, 1);
  return d;
}

// A numeric vector variable (1xK or Kx1; K >= 1) as doubles.
std::vector<double> vector_values(const MatArray& a, const fs::path& file, const std::string& name) {
  const std::int64_t n = a.info.numel();
  std::int64_t non_singleton = 0;
  for (std::int64_t d : a.info.dims) non_singleton += d != 1;
  GN_CHECK(n >= 1 && non_singleton <= 1, "{}: variable '{}' is {}; expected a vector (1xK or Kx1)", file.string(), name,
           a.info.dims_string());
  return a.values;
}

// The class mapping's values: whole numbers in [1, hi].
std::vector<std::int64_t> mapping(const std::vector<double>& v, std::int64_t hi, const fs::path& file,
                                  const std::string& name) {
  std::vector<std::int64_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    GN_CHECK(whole(v[i]) && v[i] >= 1 && v[i] <= static_cast<double>(hi), "{}: {}({}) = {}, not a class in 1..{}",
             file.string(), name, i + 1, v[i], hi);
    out[i] = static_cast<std::int64_t>(v[i]);
  }
  return out;
}

// lut[v] = the output label (-1..12) of stored label v, 0 <= v < lut.size().
std::vector<std::int64_t> label_lut(const ConvertSpec& spec, const MatOpener& open, nlohmann::ordered_json& record) {
  GN_CHECK(spec.class_map_40.empty() || !spec.class_map_13.empty(),
           "a 40-class map ({}) without the 13-class map: the output is NYUv2's 13 classes, so class13Mapping.mat "
           "(classMapping13.labels13) is needed too",
           spec.class_map_40.string());
  std::vector<std::int64_t> lut;
  if (spec.class_map_13.empty()) {  // labels already 13-class: 0..13
    lut.push_back(-1);
    for (std::int64_t c = 1; c <= 13; ++c) lut.push_back(c - 1);
    record["labels"] = "stored labels used as 13-class (0 -> -1, 1..13 -> 0..12): no class maps given";
    return lut;
  }
  const std::unique_ptr<MatSource> f13 = open(spec.class_map_13);
  const std::string name13 = "classMapping13.labels13";
  const std::vector<std::int64_t> to13 =
      mapping(vector_values(f13->read_field("classMapping13", "labels13"), spec.class_map_13, name13), 13,
              spec.class_map_13, name13);
  lut.push_back(-1);
  if (spec.class_map_40.empty()) {  // labels already 40-class: 0..M
    for (std::int64_t c : to13) lut.push_back(c - 1);
    record["labels"] =
        fmt::format("stored labels used as 40-class: v -> labels13(v) - 1 ({} entries), 0 -> -1", to13.size());
    return lut;
  }
  const std::unique_ptr<MatSource> f40 = open(spec.class_map_40);
  const std::vector<std::int64_t> to40 =
      mapping(vector_values(f40->read("mapClass"), spec.class_map_40, "mapClass"), 40, spec.class_map_40, "mapClass");
  for (std::size_t i = 0; i < to40.size(); ++i) {
    GN_CHECK(to40[i] <= static_cast<std::int64_t>(to13.size()),
             "{}: mapClass({}) = {}, but {}'s {} has only {} entries", spec.class_map_40.string(), i + 1, to40[i],
             spec.class_map_13.string(), name13, to13.size());
    lut.push_back(to13[static_cast<std::size_t>(to40[i] - 1)] - 1);
  }
  record["labels"] = fmt::format("v -> labels13(mapClass(v)) - 1 ({} -> 40 -> 13 classes), 0 -> -1", to40.size());
  return lut;
}

// 1-based indices from splits.mat, checked against 1..N and for repeats.
std::vector<std::int64_t> index_list(MatSource& f, const std::string& name, std::int64_t N, const fs::path& mat) {
  const std::optional<MatVarInfo> info = f.info(name);
  GN_CHECK(info.has_value(), "{}: has no variable '{}' (splits.mat holds trainNdxs and testNdxs)", f.path().string(),
           name);
  const std::vector<double> v = vector_values(f.read(name), f.path(), name);
  std::vector<std::int64_t> out(v.size());
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < v.size(); ++i) {
    GN_CHECK(whole(v[i]) && v[i] >= 1 && v[i] <= static_cast<double>(N),
             "{}: {}({}) = {} is out of range: {} has samples 1..{}", f.path().string(), name, i + 1, v[i],
             mat.string(), N);
    out[i] = static_cast<std::int64_t>(v[i]);
    GN_CHECK(seen.insert(out[i]).second, "{}: {}({}) = {} repeats an earlier index", f.path().string(), name, i + 1,
             out[i]);
  }
  return out;
}

// Half-pixel-centre resampling of one axis from `in` to `out` samples.
struct Axis {
  std::vector<std::int64_t> nearest;  // floor((i + 0.5) * in / out)
  std::vector<std::int64_t> lo, hi;   // bilinear neighbours
  std::vector<double> w;              // weight of hi
};

Axis make_axis(std::int64_t in, std::int64_t out) {
  Axis a;
  for (std::int64_t i = 0; i < out; ++i) {
    a.nearest.push_back(std::min(in - 1, (2 * i + 1) * in / (2 * out)));
    const double x =
        std::clamp((static_cast<double>(i) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5, 0.0,
                   static_cast<double>(in - 1));
    const auto x0 = static_cast<std::int64_t>(std::floor(x));
    a.lo.push_back(x0);
    a.hi.push_back(std::min(x0 + 1, in - 1));
    a.w.push_back(x - static_cast<double>(x0));
  }
  return a;
}

// One sample as read from the .mat file: column-major slabs (H, W, 3), (H, W), (H, W).
struct RawSample {
  std::int64_t source = 0;  // 1-based
  std::vector<double> image, depth, label;
};

struct Converted {
  Tensor image, label, depth, normal;
};

Converted convert_sample(const RawSample& s, std::int64_t H, std::int64_t W, const Axis& rows, const Axis& cols,
                         const std::vector<std::int64_t>& lut, const ConvertSpec& spec) {
  const std::string mat = spec.mat.string();
  // Check the stored values first; messages use MATLAB's 1-based subscripts (row, col, sample).
  for (std::int64_t c = 0; c < W; ++c) {
    for (std::int64_t r = 0; r < H; ++r) {
      const double l = s.label[static_cast<std::size_t>(r + H * c)];
      if (!whole(l) || l < 0 || l >= static_cast<double>(lut.size())) [[unlikely]] {
        GN_FAIL("{}: labels({}, {}, {}) = {}: {}", mat, r + 1, c + 1, s.source, l,
                !whole(l) || l < 0
                    ? std::string("not a label (a whole number >= 0)")
                    : fmt::format("no class mapping for it (labels 0..{} can be mapped{})", lut.size() - 1,
                                  spec.class_map_40.empty() ? "; the official labels 1..894 need --class-map-40 and "
                                                              "--class-map-13"
                                                            : ""));
      }
      const double d = s.depth[static_cast<std::size_t>(r + H * c)];
      // Written as float32: a finite double beyond float's range would become inf.
      GN_CHECK(std::isfinite(d) && d >= 0 && d <= std::numeric_limits<float>::max(),
               "{}: depths({}, {}, {}) = {}: not a depth in metres (finite as float32, >= 0)", mat, r + 1, c + 1,
               s.source, d);
    }
  }
  const auto Ho = static_cast<std::int64_t>(rows.nearest.size()), Wo = static_cast<std::int64_t>(cols.nearest.size());
  Converted out;
  out.image = Tensor::empty({Ho, Wo, 3});
  out.label = Tensor::empty({Ho, Wo}, DType::Int64);
  out.depth = Tensor::empty({Ho, Wo, 1});
  float* img = out.image.data<float>();
  std::int64_t* lab = out.label.data<std::int64_t>();
  float* dep = out.depth.data<float>();
  for (std::int64_t r = 0; r < Ho; ++r) {
    const auto ri = static_cast<std::size_t>(r);
    for (std::int64_t c = 0; c < Wo; ++c) {
      const auto ci = static_cast<std::size_t>(c);
      const std::int64_t p = r * Wo + c;
      const std::int64_t src = rows.nearest[ri] + H * cols.nearest[ci];  // column-major
      lab[p] = lut[static_cast<std::size_t>(s.label[static_cast<std::size_t>(src)])];
      dep[p] = static_cast<float>(s.depth[static_cast<std::size_t>(src)]);
      const std::int64_t r0 = rows.lo[ri], r1 = rows.hi[ri], c0 = cols.lo[ci], c1 = cols.hi[ci];
      const double wr = rows.w[ri], wc = cols.w[ci];
      for (std::int64_t ch = 0; ch < 3; ++ch) {
        auto at = [&](std::int64_t rr, std::int64_t cc) {
          return s.image[static_cast<std::size_t>(rr + H * (cc + W * ch))];
        };
        const double v =
            (1 - wr) * ((1 - wc) * at(r0, c0) + wc * at(r0, c1)) + wr * ((1 - wc) * at(r1, c0) + wc * at(r1, c1));
        img[p * 3 + ch] = static_cast<float>(v / 255.0);
      }
    }
  }
  // Normals at the 3-D points of the source pixels the nearest resize took the depth from.
  const std::vector<double> col_at(cols.nearest.begin(), cols.nearest.end());
  const std::vector<double> row_at(rows.nearest.begin(), rows.nearest.end());
  out.normal = normals_from_depth(out.depth, spec.intrinsics, col_at, row_at);
  return out;
}

void refuse_non_empty(const fs::path& root) {
  std::error_code ec;
  if (fs::exists(root, ec) && !fs::is_empty(root, ec))
    GN_FAIL("convert: {} exists and is not empty: convert into a new directory", root.string());
}

void create_split_dirs(const fs::path& root) {
  std::error_code ec;
  for (const char* f : {"image", "label", "depth", "normal"}) {
    fs::create_directories(root / f, ec);
    if (ec) GN_FAIL("convert: cannot create {}: {}", (root / f).string(), ec.message());
  }
}

}  // namespace

Tensor normals_from_depth(const Tensor& depth, const Intrinsics& k, const std::vector<double>& cols,
                          const std::vector<double>& rows) {
  GN_CHECK(depth.dtype() == DType::Float32 && (depth.dim() == 2 || (depth.dim() == 3 && depth.size(2) == 1)),
           "normals_from_depth: depth must be (H, W) or (H, W, 1) float32");
  const std::int64_t H = depth.size(0), W = depth.size(1);
  GN_CHECK(cols.empty() || static_cast<std::int64_t>(cols.size()) == W,
           "normals_from_depth: {} column coordinates for W = {}", cols.size(), W);
  GN_CHECK(rows.empty() || static_cast<std::int64_t>(rows.size()) == H,
           "normals_from_depth: {} row coordinates for H = {}", rows.size(), H);
  const float* d = depth.data<float>();
  Tensor out = Tensor::zeros({H, W, 3});
  float* n = out.data<float>();
  struct P3 {
    double x, y, z;
  };
  auto point = [&](std::int64_t r, std::int64_t c) {
    const double z = d[r * W + c];
    const double u = (cols.empty() ? static_cast<double>(c) : cols[static_cast<std::size_t>(c)]) + 1;  // 1-based
    const double v = (rows.empty() ? static_cast<double>(r) : rows[static_cast<std::size_t>(r)]) + 1;
    return P3{(u - k.cx) * z / k.fx, (v - k.cy) * z / k.fy, z};
  };
  for (std::int64_t r = 1; r + 1 < H; ++r) {
    for (std::int64_t c = 1; c + 1 < W; ++c) {
      if (!(d[r * W + c] > 0 && d[r * W + c - 1] > 0 && d[r * W + c + 1] > 0 && d[(r - 1) * W + c] > 0 &&
            d[(r + 1) * W + c] > 0))
        continue;
      const P3 l = point(r, c - 1), rt = point(r, c + 1), up = point(r - 1, c), dn = point(r + 1, c), p = point(r, c);
      const P3 a{rt.x - l.x, rt.y - l.y, rt.z - l.z}, b{dn.x - up.x, dn.y - up.y, dn.z - up.z};
      P3 m{a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
      const double len = std::sqrt(m.x * m.x + m.y * m.y + m.z * m.z);
      if (!(len > 0) || !std::isfinite(len)) continue;
      const double s = (m.x * p.x + m.y * p.y + m.z * p.z > 0 ? -1.0 : 1.0) / len;  // face the camera
      n[(r * W + c) * 3 + 0] = static_cast<float>(m.x * s);
      n[(r * W + c) * 3 + 1] = static_cast<float>(m.y * s);
      n[(r * W + c) * 3 + 2] = static_cast<float>(m.z * s);
    }
  }
  return out;
}

std::int64_t fallback_train_count(std::int64_t samples) {
  GN_CHECK(samples >= 2, "cannot split {} sample(s) into train and val", samples);
  const std::int64_t t = (samples * kOfficialTrain * 2 + kOfficialSamples) / (2 * kOfficialSamples);  // rounded
  return std::clamp<std::int64_t>(t, 1, samples - 1);
}

namespace {

// Reads each sample's slabs in order, converts and writes them (8 at a time in parallel).
void convert_samples(const ConvertSpec& spec, MatSource& mat, std::int64_t H, std::int64_t W,
                     const std::vector<std::int64_t>& lut, const MatVarInfo& images, const MatVarInfo& depths,
                     const MatVarInfo& labels, const ConvertResult& result) {
  create_split_dirs(spec.out / "train");
  create_split_dirs(spec.out / "val");
  const Axis rows = make_axis(H, result.out_height), cols = make_axis(W, result.out_width);
  const std::int64_t total = static_cast<std::int64_t>(result.train.size() + result.val.size());
  std::int64_t done = 0;
  constexpr std::size_t kBatch = 8;  // read in order through libmatio, then convert and write in parallel
  for (const auto& [split, ids] : {std::pair{"train", &result.train}, std::pair{"val", &result.val}}) {
    const fs::path root = spec.out / split;
    for (std::size_t b = 0; b < ids->size(); b += kBatch) {
      const std::size_t e = std::min(ids->size(), b + kBatch);
      std::vector<RawSample> raw(e - b);
      for (std::size_t i = b; i < e; ++i) {
        RawSample& s = raw[i - b];
        s.source = (*ids)[i];
        const std::int64_t n = s.source - 1;
        // Slabs in each variable's own rank (trailing singletons dropped when N = 1).
        auto slab = [&](const std::string& name, const MatVarInfo& info, std::vector<std::int64_t> start,
                        std::vector<std::int64_t> count) {
          start.resize(info.dims.size(), 0);
          count.resize(info.dims.size(), 1);
          return mat.read_slab(name, start, count);
        };
        s.image = slab("images", images, {0, 0, 0, n}, {H, W, 3, 1});
        s.depth = slab("depths", depths, {0, 0, n}, {H, W, 1});
        s.label = slab("labels", labels, {0, 0, n}, {H, W, 1});
      }
      const auto count = static_cast<std::int64_t>(raw.size());
      app::parallel_for_items(count, 0, [&](std::int64_t i) {
        const Converted c = convert_sample(raw[static_cast<std::size_t>(i)], H, W, rows, cols, lut, spec);
        const std::string name = std::to_string(static_cast<std::int64_t>(b) + i) + ".npy";
        app::write_npy(root / "image" / name, c.image);
        app::write_npy(root / "label" / name, c.label);
        app::write_npy(root / "depth" / name, c.depth);
        app::write_npy(root / "normal" / name, c.normal);
      });
      done += count;
      if (spec.progress) spec.progress(done, total);
    }
  }
}

// DIR/conversion.json, written last: its presence marks a finished conversion.
void write_record(const ConvertSpec& spec, const ConvertResult& result, std::int64_t H, std::int64_t W, std::int64_t N,
                  nlohmann::ordered_json& record) {
  record["format"] = result.mat_version;
  record["stored_size"] = {{"height", H}, {"width", W}, {"samples", N}};
  record["output_size"] = {{"height", result.out_height}, {"width", result.out_width}};
  record["resize"] = spec.height ? "half-pixel centres: image bilinear, labels and depth nearest" : "none";
  record["class_map_40"] = spec.class_map_40.string();
  record["class_map_13"] = spec.class_map_13.string();
  record["normals"] =
      "from depth: back-projected with the NYUv2 toolbox RGB intrinsics (1-based pixels), central differences of "
      "the 3-D points, cross product, normalised, facing the camera; zero on the border and next to depth 0";
  record["intrinsics"] = {
      {"fx", spec.intrinsics.fx}, {"fy", spec.intrinsics.fy}, {"cx", spec.intrinsics.cx}, {"cy", spec.intrinsics.cy}};
  record["official_split"] = result.official_split;
  record["train_source_indices"] = result.train;  // output id i <- MATLAB sample index (1-based)
  record["val_source_indices"] = result.val;
  record["warnings"] = result.warnings;
  app::write_json(spec.out / "conversion.json", record);
}

}  // namespace

ConvertResult convert_nyuv2_mat(const ConvertSpec& spec) {
  GN_CHECK(!spec.mat.empty(), "convert: no .mat file given");
  GN_CHECK(!spec.out.empty(), "convert: no output directory given");
  GN_CHECK((spec.height == 0 && spec.width == 0) ||
               (spec.height >= 1 && spec.width >= 1 && spec.height <= kMaxSide && spec.width <= kMaxSide),
           "convert: output size {}x{} must be 0x0 (as stored) or in [1, {}]", spec.height, spec.width, kMaxSide);
  ConvertResult result;
  nlohmann::ordered_json record;
  record["source"] = spec.mat.string();

  // The labeled file: every variable's class and dims before anything is read or written.
  const MatOpener open = spec.open ? spec.open : MatOpener(open_mat_file);
  const std::unique_ptr<MatSource> source = open(spec.mat);
  MatSource& mat = *source;
  result.mat_version = mat.version();
  auto need = [&](const char* name) {
    const std::optional<MatVarInfo> i = mat.info(name);
    GN_CHECK(i.has_value(),
             "{}: has no variable '{}' (the labeled NYUv2 file nyu_depth_v2_labeled.mat holds images, depths and "
             "labels)",
             spec.mat.string(), name);
    return *i;
  };
  const MatVarInfo images = need("images"), depths = need("depths"), labels = need("labels");
  GN_CHECK(images.cls == MatClass::UInt8 && !images.complex, "{}: variable 'images' is of class {}; expected uint8",
           spec.mat.string(), mat_class_name(images.cls));
  const std::vector<std::int64_t> di =
      padded_dims(images, 4, spec.mat, "images", "H x W x 3 x N (480x640x3x1449 in the official file)");
  const std::int64_t H = di[0], W = di[1], N = di[3];
  GN_CHECK(di[2] == 3 && H >= 1 && W >= 1 && N >= 1 && H <= kMaxSide && W <= kMaxSide,
           "{}: variable 'images' is {} (MATLAB order); expected H x W x 3 x N (480x640x3x1449 in the official "
           "file), H and W in [1, {}]",
           spec.mat.string(), images.dims_string(), kMaxSide);
  const std::string hwn = fmt::format("{}x{}x{} (H x W x N, as 'images' {})", H, W, N, images.dims_string());
  GN_CHECK((depths.cls == MatClass::Single || depths.cls == MatClass::Double) && !depths.complex,
           "{}: variable 'depths' is of class {}; expected single or double (metres)", spec.mat.string(),
           mat_class_name(depths.cls));
  GN_CHECK(mat_class_is_numeric(labels.cls) && !labels.complex,
           "{}: variable 'labels' is of class {}; expected an integer class (uint16) or whole-valued double",
           spec.mat.string(), mat_class_name(labels.cls));
  for (const auto* v : {&depths, &labels}) {
    const std::string name = v == &depths ? "depths" : "labels";
    GN_CHECK(padded_dims(*v, 3, spec.mat, name, hwn) == (std::vector<std::int64_t>{H, W, N}),
             "{}: variable '{}' is {} (MATLAB order); expected {}", spec.mat.string(), name, v->dims_string(), hwn);
  }
  result.samples = N;
  result.height = H;
  result.width = W;
  result.out_height = spec.height ? spec.height : H;
  result.out_width = spec.width ? spec.width : W;

  // Class maps, then the split: all checked before the first file is written.
  const std::vector<std::int64_t> lut = label_lut(spec, open, record);
  if (!spec.splits.empty()) {
    const std::unique_ptr<MatSource> sf = open(spec.splits);
    result.train = index_list(*sf, "trainNdxs", N, spec.mat);
    result.val = index_list(*sf, "testNdxs", N, spec.mat);
    GN_CHECK(!result.train.empty() && !result.val.empty(), "{}: trainNdxs and testNdxs must both be non-empty",
             spec.splits.string());
    const std::set<std::int64_t> train(result.train.begin(), result.train.end());
    for (std::size_t i = 0; i < result.val.size(); ++i)
      GN_CHECK(!train.contains(result.val[i]), "{}: testNdxs({}) = {} is also in trainNdxs", spec.splits.string(),
               i + 1, result.val[i]);
    result.official_split = true;
    record["split"] = fmt::format("splits.mat: {}", spec.splits.string());
  } else {
    const std::int64_t t = fallback_train_count(N);
    for (std::int64_t i = 1; i <= N; ++i) (i <= t ? result.train : result.val).push_back(i);
    result.warnings.push_back(fmt::format(
        "NO splits.mat: this is NOT the official NYUv2 split. The first {} of {} samples (file order) are train, "
        "the other {} val (for the official 1449: 1..795 / 796..1449), while the official split (splits.mat's "
        "trainNdxs / testNdxs) interleaves them: results on it are not comparable with published ones.",
        t, N, N - t));
    if (spec.warn) spec.warn(result.warnings.back());
    record["split"] = fmt::format("UNOFFICIAL fallback: samples 1..{} train, {}..{} val (no splits.mat)", t, t + 1, N);
  }
  refuse_non_empty(spec.out / "train");
  refuse_non_empty(spec.out / "val");
  try {
    convert_samples(spec, mat, H, W, lut, images, depths, labels, result);
    write_record(spec, result, H, W, N, record);
  } catch (...) {
    // Both folders were absent or empty before: remove what this conversion wrote, so no half-converted set
    // is left for `train` to read.
    std::error_code ec;
    fs::remove_all(spec.out / "train", ec);
    fs::remove_all(spec.out / "val", ec);
    throw;
  }
  return result;
}

}  // namespace gn::nyuv2
