// The NYUv2 .mat converter (apps/nyuv2/convert.h, convert_cli.h): the test writes its own small .mat files
// with libmatio in the official structure (images H x W x 3 x N uint8, depths single, labels uint16,
// classMapping40.mat's mapClass 1x894, class13Mapping.mat's classMapping13.labels13 1x40, splits.mat's
// trainNdxs / testNdxs), converts, and checks every output file. The labeled file is written as v7.3 (HDF5,
// as the official one), v5 and compressed v5. Skipped only when the build has no libmatio.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/common/npy.h"
#include "apps/nyuv2/convert.h"
#include "apps/nyuv2/convert_cli.h"
#include "apps/nyuv2/dataset.h"
#include "apps/nyuv2/matfile.h"
#include "core/error.h"
#include "tests/apps/scratch_files.h"

#if GN_HAVE_MATIO
#include <matio.h>
#endif

namespace gn::nyuv2 {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) { return test_files::scratch_dir("nyuv2_convert", name); }

// The error message of f(), or "" when it does not throw.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A plane n . P = d in camera coordinates (n unit, facing the camera: d < 0 for points in front), and the
// depth it gives at 0-based pixel (r, c) of the toolbox camera (1-based pixel coordinates, as convert.h).
struct Plane {
  std::array<double, 3> n;
  double d;
};
Plane make_plane(double x, double y, double z, double d) {
  const double len = std::sqrt(x * x + y * y + z * z);
  return {{x / len, y / len, z / len}, d};
}
double plane_depth(const Plane& p, double r, double c, const Intrinsics& k = {}) {
  const double rx = (c + 1 - k.cx) / k.fx, ry = (r + 1 - k.cy) / k.fy;
  return p.d / (p.n[0] * rx + p.n[1] * ry + p.n[2]);
}

void expect_normal(const float* n, const std::array<double, 3>& want, const std::string& where) {
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(n[i], want[static_cast<std::size_t>(i)], 2e-4) << where << " axis " << i;
}
void expect_zero_normal(const float* n, const std::string& where) {
  EXPECT_TRUE(n[0] == 0 && n[1] == 0 && n[2] == 0) << where;
}

TEST(Nyuv2Normals, PlanesGiveThePlaneNormalFacingTheCamera) {
  const std::int64_t H = 12, W = 16;
  for (const Plane& plane :
       {make_plane(0, 0, -1, -2), make_plane(0.3, -0.4, -1, -2.5), make_plane(-0.2, 1, -0.3, -1.2)}) {
    Tensor depth = Tensor::empty({H, W, 1});
    for (std::int64_t r = 0; r < H; ++r)
      for (std::int64_t c = 0; c < W; ++c)
        depth.data<float>()[r * W + c] =
            static_cast<float>(plane_depth(plane, static_cast<double>(r), static_cast<double>(c)));
    depth.data<float>()[5 * W + 7] = 0;  // a hole: it and its four neighbours have no normal
    const Tensor n = normals_from_depth(depth);
    ASSERT_EQ(n.shape(), (Shape{H, W, 3}));
    const float* p = n.data<float>();
    for (std::int64_t r = 0; r < H; ++r) {
      for (std::int64_t c = 0; c < W; ++c) {
        const std::string where = "pixel (" + std::to_string(r) + ", " + std::to_string(c) + ")";
        const bool border = r == 0 || c == 0 || r == H - 1 || c == W - 1;
        const bool near_hole = std::abs(r - 5) + std::abs(c - 7) <= 1;
        if (border || near_hole)
          expect_zero_normal(p + (r * W + c) * 3, where);
        else
          expect_normal(p + (r * W + c) * 3, plane.n, where);
      }
    }
  }
  EXPECT_EQ(fallback_train_count(1449), 795);
  EXPECT_EQ(fallback_train_count(5), 3);
  EXPECT_EQ(fallback_train_count(2), 1);
  EXPECT_NE(error_of([] { fallback_train_count(1); }), "");
}

TEST(Nyuv2ConvertCli, FlagsAreValidatedWhenParsed) {
  EXPECT_EQ(parse_size("288x384"), (std::pair<std::int64_t, std::int64_t>{288, 384}));
  for (const char* bad : {"288", "288x", "x384", "-1x5", "0x5", "288x384x3", "28 8x384", "+2x3", "99999x2"})
    EXPECT_NE(error_of([&] { parse_size(bad); }), "") << bad;
  const fs::path dir = scratch("cli");
  const fs::path file = dir / "exists.mat";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    std::fclose(f);
  }
  auto parse = [&](std::vector<std::string> args) {
    CLI::App root;
    const ConvertCommand cmd = add_convert_command(root);
    args.insert(args.begin(), {"prog", "convert"});
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    root.parse(static_cast<int>(argv.size()), argv.data());
    EXPECT_TRUE(cmd.parsed());
    return convert_spec(*cmd.options);
  };
  const ConvertSpec s = parse({"--mat", file, "--class-map-40", file, "--class-map-13", file, "--splits", file, "--out",
                               (dir / "out").string(), "--resize", "288x384"});
  EXPECT_EQ(s.mat, file);
  EXPECT_EQ(s.class_map_40, file);
  EXPECT_EQ(s.out, dir / "out");
  EXPECT_EQ(s.height, 288);
  EXPECT_EQ(s.width, 384);
  EXPECT_EQ(parse({"--mat", file, "--out", "o"}).height, 0);
  EXPECT_THROW(parse({"--mat", (dir / "missing.mat").string(), "--out", "o"}), CLI::ValidationError);
  EXPECT_THROW(parse({"--mat", file, "--out", "o", "--resize", "288x"}), CLI::ValidationError);
  EXPECT_THROW(parse({"--mat", file, "--out", "o", "--class-map-40", file}), CLI::RequiresError);
  EXPECT_THROW(parse({"--mat", file}), CLI::RequiredError);
  fs::remove_all(dir);
}

TEST(Nyuv2Convert, WithoutLibmatioTheErrorSaysSo) {
  if (matio_available()) GTEST_SKIP() << "built with libmatio (the stub's message is for builds without it)";
  const std::string e = error_of([] { MatFile f("x.mat"); });
  EXPECT_NE(e.find("built without libmatio"), std::string::npos) << e;
}

#if GN_HAVE_MATIO

constexpr std::int64_t kH = 6, kW = 8, kN = 5;  // non-square, so a transpose cannot go unnoticed

// The stored values, by 0-based (row, col, channel, sample).
std::uint8_t image_value(std::int64_t r, std::int64_t c, std::int64_t ch, std::int64_t n) {
  return static_cast<std::uint8_t>(r + 6 * c + 48 * ch + 20 * n);  // <= 223
}
Plane sample_plane(std::int64_t n) {
  return make_plane(0.3, -0.4 + 0.1 * static_cast<double>(n), -1, -2.0 - 0.25 * static_cast<double>(n));
}
float depth_value(std::int64_t r, std::int64_t c, std::int64_t n) {
  if (n == 2 && r == 2 && c == 3) return 0;  // a hole in sample 3 (1-based)
  return static_cast<float>(plane_depth(sample_plane(n), static_cast<double>(r), static_cast<double>(c)));
}
std::uint16_t label_value(std::int64_t r, std::int64_t c, std::int64_t n) {
  if (r == 0 && c == 0) return 0;    // unlabeled
  if (r == 5 && c == 7) return 894;  // the last class
  return static_cast<std::uint16_t>((r * 131 + c * 17 + n * 59) % 895);
}
std::int64_t map40(std::int64_t v) { return (v * 7) % 40 + 1; }  // mapClass(v), 1..40
std::int64_t map13(std::int64_t v) { return (v * 5) % 13 + 1; }  // labels13(v), 1..13
std::int64_t expected_label(std::int64_t v) { return v == 0 ? -1 : map13(map40(v)) - 1; }

struct MatWriter {
  mat_t* mat;
  MatWriter(const fs::path& path, mat_ft version) : mat(Mat_CreateVer(path.c_str(), nullptr, version)) {
    if (!mat) throw Error("cannot create " + path.string());
  }
  ~MatWriter() { Mat_Close(mat); }
  template <typename T>
  void write(const char* name, matio_classes cls, matio_types type, std::vector<std::size_t> dims, std::vector<T> data,
             matio_compression z = MAT_COMPRESSION_NONE) {
    matvar_t* v = Mat_VarCreate(name, cls, type, static_cast<int>(dims.size()), dims.data(), data.data(), 0);
    ASSERT_NE(v, nullptr) << name;
    ASSERT_EQ(Mat_VarWrite(mat, v, z), 0) << name;
    Mat_VarFree(v);
  }
};

// Which variables to spoil, for the error tests.
struct Spoil {
  bool no_depths = false, double_images = false, short_depths = false, label_895 = false;
  bool label_895_in_val = false;   // in sample 4 (val): found after train/ was written
  bool huge_double_depth = false;  // depths stored as double, one value beyond float32 (found by fuzz_mat_convert)
};

// nyu_depth_v2_labeled.mat's structure, column-major (element (r, c, ch, n) at r + H (c + W (ch + 3 n))).
void write_labeled(const fs::path& path, mat_ft version, matio_compression z = MAT_COMPRESSION_NONE,
                   const Spoil& spoil = {}) {
  MatWriter w(path, version);
  std::vector<std::uint8_t> img(kH * kW * 3 * kN);
  std::vector<float> dep(kH * kW * kN);
  std::vector<std::uint16_t> lab(kH * kW * kN);
  for (std::int64_t n = 0; n < kN; ++n)
    for (std::int64_t c = 0; c < kW; ++c)
      for (std::int64_t r = 0; r < kH; ++r) {
        for (std::int64_t ch = 0; ch < 3; ++ch)
          img[static_cast<std::size_t>(r + kH * (c + kW * (ch + 3 * n)))] = image_value(r, c, ch, n);
        dep[static_cast<std::size_t>(r + kH * (c + kW * n))] = depth_value(r, c, n);
        lab[static_cast<std::size_t>(r + kH * (c + kW * n))] = label_value(r, c, n);
      }
  if (spoil.label_895) lab[7] = 895;
  if (spoil.label_895_in_val) lab[static_cast<std::size_t>(kH * kW * 3 + 7)] = 895;
  const auto H = static_cast<std::size_t>(kH), W = static_cast<std::size_t>(kW), N = static_cast<std::size_t>(kN);
  if (spoil.double_images)
    w.write("images", MAT_C_DOUBLE, MAT_T_DOUBLE, {H, W, 3, N}, std::vector<double>(img.begin(), img.end()), z);
  else
    w.write("images", MAT_C_UINT8, MAT_T_UINT8, {H, W, 3, N}, img, z);
  if (spoil.short_depths)
    w.write("depths", MAT_C_SINGLE, MAT_T_SINGLE, {H - 1, W, N}, std::vector<float>((H - 1) * W * N, 1.0f), z);
  else if (spoil.huge_double_depth) {
    std::vector<double> d(dep.begin(), dep.end());
    d[9] = 1e300;  // finite as a double, inf as the float32 the .npy holds
    w.write("depths", MAT_C_DOUBLE, MAT_T_DOUBLE, {H, W, N}, d, z);
  } else if (!spoil.no_depths)
    w.write("depths", MAT_C_SINGLE, MAT_T_SINGLE, {H, W, N}, dep, z);
  w.write("labels", MAT_C_UINT16, MAT_T_UINT16, {H, W, N}, lab, z);
}

// classMapping40.mat, class13Mapping.mat and splits.mat as the public files are: MATLAB v5.
struct Aux {
  fs::path map40, map13, splits;
};
Aux write_aux(const fs::path& dir, std::vector<double> train = {1, 3, 5}, std::vector<double> test = {2, 4}) {
  Aux a{dir / "classMapping40.mat", dir / "class13Mapping.mat", dir / "splits.mat"};
  {
    std::vector<double> m(894);
    for (std::size_t v = 1; v <= 894; ++v) m[v - 1] = static_cast<double>(map40(static_cast<std::int64_t>(v)));
    MatWriter(a.map40, MAT_FT_MAT5).write("mapClass", MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 894}, m);
  }
  {
    MatWriter w(a.map13, MAT_FT_MAT5);
    std::vector<double> m(40);
    for (std::size_t v = 1; v <= 40; ++v) m[v - 1] = static_cast<double>(map13(static_cast<std::int64_t>(v)));
    std::size_t one[2] = {1, 1}, d40[2] = {1, 40};
    const char* fields[] = {"labels13"};
    matvar_t* s = Mat_VarCreateStruct("classMapping13", 2, one, fields, 1);
    Mat_VarSetStructFieldByName(s, "labels13", 0,
                                Mat_VarCreate("labels13", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d40, m.data(), 0));
    EXPECT_EQ(Mat_VarWrite(w.mat, s, MAT_COMPRESSION_NONE), 0);
    Mat_VarFree(s);
  }
  {
    MatWriter w(a.splits, MAT_FT_MAT5);
    w.write("trainNdxs", MAT_C_DOUBLE, MAT_T_DOUBLE, {train.size(), 1}, train);
    w.write("testNdxs", MAT_C_DOUBLE, MAT_T_DOUBLE, {test.size(), 1}, test);
  }
  return a;
}

// A spec (no designated initializers: GCC 12's -Wmissing-field-initializers flags the omitted members).
ConvertSpec spec_of(const fs::path& mat, const fs::path& map40, const fs::path& map13, const fs::path& splits,
                    const fs::path& out, std::int64_t height = 0, std::int64_t width = 0) {
  ConvertSpec s;
  s.mat = mat;
  s.class_map_40 = map40;
  s.class_map_13 = map13;
  s.splits = splits;
  s.out = out;
  s.height = height;
  s.width = width;
  return s;
}

// Checks output id `id` of DIR/split against source sample `src` (1-based).
void check_sample(const fs::path& dir, const std::string& split, std::int64_t id, std::int64_t src) {
  const std::string name = std::to_string(id) + ".npy", where = split + "/" + name;
  const std::int64_t n = src - 1;
  const app::NpyArray img = app::read_npy(dir / split / "image" / name);
  const app::NpyArray lab = app::read_npy(dir / split / "label" / name);
  const app::NpyArray dep = app::read_npy(dir / split / "depth" / name);
  const app::NpyArray nor = app::read_npy(dir / split / "normal" / name);
  ASSERT_EQ(img.tensor.shape(), (Shape{kH, kW, 3})) << where;
  ASSERT_EQ(lab.tensor.shape(), (Shape{kH, kW})) << where;
  ASSERT_EQ(dep.tensor.shape(), (Shape{kH, kW, 1})) << where;
  ASSERT_EQ(nor.tensor.shape(), (Shape{kH, kW, 3})) << where;
  EXPECT_EQ(img.header.type, app::NpyType::Float32);
  EXPECT_EQ(lab.header.type, app::NpyType::Int64);
  for (std::int64_t r = 0; r < kH; ++r) {
    for (std::int64_t c = 0; c < kW; ++c) {
      const std::string at = where + " (" + std::to_string(r) + ", " + std::to_string(c) + ")";
      for (std::int64_t ch = 0; ch < 3; ++ch)
        ASSERT_EQ(img.tensor.data<float>()[(r * kW + c) * 3 + ch], static_cast<float>(image_value(r, c, ch, n) / 255.0))
            << at;
      ASSERT_EQ(lab.tensor.data<std::int64_t>()[r * kW + c], expected_label(label_value(r, c, n))) << at;
      ASSERT_EQ(dep.tensor.data<float>()[r * kW + c], depth_value(r, c, n)) << at;
      const float* nv = nor.tensor.data<float>() + (r * kW + c) * 3;
      const bool border = r == 0 || c == 0 || r == kH - 1 || c == kW - 1;
      const bool near_hole = n == 2 && std::abs(r - 2) + std::abs(c - 3) <= 1;
      if (border || near_hole)
        expect_zero_normal(nv, at);
      else
        expect_normal(nv, sample_plane(n).n, at);
    }
  }
}

struct Format {
  const char* name;
  mat_ft version;
  matio_compression z;
};

class Nyuv2ConvertFormats : public ::testing::TestWithParam<Format> {};

TEST_P(Nyuv2ConvertFormats, OfficialStructureConvertsExactly) {
  const fs::path dir = scratch(GetParam().name);
  write_labeled(dir / "nyu_depth_v2_labeled.mat", GetParam().version, GetParam().z);
  const Aux aux = write_aux(dir);
  {
    MatFile f(dir / "nyu_depth_v2_labeled.mat");
    EXPECT_EQ(f.version(), GetParam().version == MAT_FT_MAT73 ? "v7.3 (HDF5)" : "v5");
    EXPECT_EQ(f.info("labels")->dims_string(), "6x8x5");
    EXPECT_EQ(f.info("images")->cls, MatClass::UInt8);
    EXPECT_FALSE(f.info("nothing").has_value());
  }
  ConvertSpec spec = spec_of(dir / "nyu_depth_v2_labeled.mat", aux.map40, aux.map13, aux.splits, dir / "out");
  std::int64_t last_done = 0;
  spec.progress = [&](std::int64_t done, std::int64_t total) {
    EXPECT_EQ(total, 5);
    EXPECT_GT(done, last_done);
    last_done = done;
  };
  const ConvertResult r = convert_nyuv2_mat(spec);
  EXPECT_EQ(last_done, 5);
  EXPECT_TRUE(r.official_split);
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.samples, kN);
  EXPECT_EQ(r.height, kH);
  EXPECT_EQ(r.width, kW);
  EXPECT_EQ(r.train, (std::vector<std::int64_t>{1, 3, 5}));
  EXPECT_EQ(r.val, (std::vector<std::int64_t>{2, 4}));
  check_sample(dir / "out", "train", 0, 1);
  check_sample(dir / "out", "train", 1, 3);  // holds the depth hole
  check_sample(dir / "out", "train", 2, 5);
  check_sample(dir / "out", "val", 0, 2);
  check_sample(dir / "out", "val", 1, 4);
  EXPECT_FALSE(fs::exists(dir / "out/train/image/3.npy"));
  EXPECT_TRUE(fs::exists(dir / "out/conversion.json"));
  // The data set reads what was written.
  const NyuDataset ds(dir / "out", "train", {NyuTask::Segmentation, NyuTask::Depth, NyuTask::Normal});
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.height(), kH);
  EXPECT_EQ(ds.width(), kW);
  EXPECT_EQ(ds.load(2).image.shape(), (Shape{3, kH, kW}));
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Formats, Nyuv2ConvertFormats,
                         ::testing::Values(Format{"v73", MAT_FT_MAT73, MAT_COMPRESSION_NONE},
                                           Format{"v5", MAT_FT_MAT5, MAT_COMPRESSION_NONE},
                                           Format{"v5z", MAT_FT_MAT5, MAT_COMPRESSION_ZLIB}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Nyuv2Convert, ResizeTakesNearestLabelsBilinearImagesAndPlaneNormals) {
  const fs::path dir = scratch("resize");
  write_labeled(dir / "l.mat", MAT_FT_MAT73);
  const Aux aux = write_aux(dir);
  const ConvertResult r =
      convert_nyuv2_mat(spec_of(dir / "l.mat", aux.map40, aux.map13, aux.splits, dir / "out", 3, 4));
  EXPECT_EQ(r.out_height, 3);
  EXPECT_EQ(r.out_width, 4);
  // 6x8 -> 3x4: nearest takes source (2i + 1, 2j + 1); bilinear averages rows 2i, 2i + 1 and cols 2j, 2j + 1.
  const std::int64_t n = 0;  // train/0 = sample 1
  const Tensor img = app::read_npy(dir / "out/train/image/0.npy").tensor;
  const Tensor lab = app::read_npy(dir / "out/train/label/0.npy").tensor;
  const Tensor dep = app::read_npy(dir / "out/train/depth/0.npy").tensor;
  const Tensor nor = app::read_npy(dir / "out/train/normal/0.npy").tensor;
  ASSERT_EQ(img.shape(), (Shape{3, 4, 3}));
  for (std::int64_t i = 0; i < 3; ++i) {
    for (std::int64_t j = 0; j < 4; ++j) {
      EXPECT_EQ(lab.data<std::int64_t>()[i * 4 + j], expected_label(label_value(2 * i + 1, 2 * j + 1, n)));
      EXPECT_EQ(dep.data<float>()[i * 4 + j], depth_value(2 * i + 1, 2 * j + 1, n));
      for (std::int64_t ch = 0; ch < 3; ++ch) {
        const double mean = (image_value(2 * i, 2 * j, ch, n) + image_value(2 * i + 1, 2 * j, ch, n) +
                             image_value(2 * i, 2 * j + 1, ch, n) + image_value(2 * i + 1, 2 * j + 1, ch, n)) /
                            4.0;
        EXPECT_NEAR(img.data<float>()[(i * 4 + j) * 3 + ch], mean / 255, 1e-6);
      }
    }
  }
  for (std::int64_t j : {1, 2}) expect_normal(nor.data<float>() + (1 * 4 + j) * 3, sample_plane(n).n, "resized");
  expect_zero_normal(nor.data<float>(), "resized border");
  fs::remove_all(dir);
}

TEST(Nyuv2Convert, WithoutSplitsTheFallbackIsUsedLoudly) {
  const fs::path dir = scratch("fallback");
  write_labeled(dir / "l.mat", MAT_FT_MAT73);
  const Aux aux = write_aux(dir);
  std::vector<std::string> warned;
  ConvertSpec spec = spec_of(dir / "l.mat", aux.map40, aux.map13, {}, dir / "out");
  spec.warn = [&](const std::string& w) { warned.push_back(w); };
  const ConvertResult r = convert_nyuv2_mat(spec);
  EXPECT_FALSE(r.official_split);
  EXPECT_EQ(r.train, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(r.val, (std::vector<std::int64_t>{4, 5}));
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_NE(warned[0].find("NOT the official"), std::string::npos);
  check_sample(dir / "out", "val", 1, 5);
  fs::remove_all(dir);
}

TEST(Nyuv2Convert, LabelsAlreadyIn13ClassesNeedNoMaps) {
  const fs::path dir = scratch("nomaps");
  write_labeled(dir / "l.mat", MAT_FT_MAT73);
  const Aux aux = write_aux(dir);
  // The stored labels go up to 894: without maps that is refused, naming the pixel and the flags.
  const std::string e = error_of([&] { convert_nyuv2_mat(spec_of(dir / "l.mat", {}, {}, aux.splits, dir / "out")); });
  EXPECT_NE(e.find("labels("), std::string::npos) << e;
  EXPECT_NE(e.find("--class-map-40"), std::string::npos) << e;
  fs::remove_all(dir);
}

TEST(Nyuv2Convert, BadInputsAreRefusedNamingFileAndVariable) {
  const fs::path dir = scratch("bad");
  const Aux aux = write_aux(dir);
  const fs::path good = dir / "good.mat";
  write_labeled(good, MAT_FT_MAT73);
  int k = 0;
  auto attempt = [&](ConvertSpec s) {
    s.out = dir / ("out" + std::to_string(k++));
    return error_of([&] { convert_nyuv2_mat(s); });
  };
  auto expect_has = [](const std::string& e, std::initializer_list<const char*> parts) {
    EXPECT_NE(e, "");
    for (const char* p : parts) EXPECT_NE(e.find(p), std::string::npos) << "'" << p << "' not in: " << e;
  };
  const ConvertSpec base = spec_of(good, aux.map40, aux.map13, aux.splits, {});
  auto spoiled = [&](const char* name, bool Spoil::*what) {
    Spoil sp;
    sp.*what = true;
    write_labeled(dir / name, MAT_FT_MAT73, MAT_COMPRESSION_NONE, sp);
    ConvertSpec s = base;
    s.mat = dir / name;
    return attempt(s);
  };
  expect_has(spoiled("nodepth.mat", &Spoil::no_depths), {"nodepth.mat", "'depths'", "no variable"});
  expect_has(spoiled("dblimg.mat", &Spoil::double_images), {"dblimg.mat", "'images'", "double", "uint8"});
  expect_has(spoiled("short.mat", &Spoil::short_depths), {"short.mat", "'depths'", "5x8x5", "6x8x5"});
  expect_has(spoiled("l895.mat", &Spoil::label_895), {"l895.mat", "labels(2, 2, 1) = 895"});
  expect_has(spoiled("hugedepth.mat", &Spoil::huge_double_depth), {"hugedepth.mat", "depths(4, 2, 1) = 1e+300"});
  // Found while converting, after train/ was written: no half-converted set is left behind.
  expect_has(spoiled("l895v.mat", &Spoil::label_895_in_val), {"l895v.mat", "labels(2, 2, 4) = 895"});
  {
    const fs::path out = dir / ("out" + std::to_string(k - 1));
    EXPECT_FALSE(fs::exists(out / "train")) << out;
    EXPECT_FALSE(fs::exists(out / "val")) << out;
    EXPECT_FALSE(fs::exists(out / "conversion.json")) << out;
  }
  {
    ConvertSpec s = base;
    s.mat = dir / "missing.mat";
    expect_has(attempt(s), {"missing.mat", "no such file"});
    s.mat = aux.map40;  // a .mat without the labeled variables
    expect_has(attempt(s), {"classMapping40.mat", "'images'"});
    s = base;
    s.class_map_40 = aux.splits;  // no mapClass in it
    expect_has(attempt(s), {"splits.mat", "'mapClass'"});
    s = base;
    s.class_map_13 = aux.map40;  // no classMapping13 struct in it
    expect_has(attempt(s), {"classMapping40.mat", "'classMapping13'"});
    s = base;
    s.class_map_13.clear();
    expect_has(attempt(s), {"without the 13-class map"});
  }
  {
    std::FILE* f = std::fopen((dir / "text.mat").c_str(), "w");
    std::fputs("not a mat file at all\n", f);
    std::fclose(f);
    ConvertSpec s = base;
    s.mat = dir / "text.mat";
    expect_has(attempt(s), {"text.mat", "cannot be opened"});
  }
  for (const auto& [train, test, want] :
       std::vector<std::tuple<std::vector<double>, std::vector<double>, std::vector<const char*>>>{
           {{1, 6}, {2}, {"trainNdxs(2) = 6", "out of range", "good.mat"}},
           {{1, 0}, {2}, {"trainNdxs(2) = 0"}},
           {{1, 1.5}, {2}, {"trainNdxs(2) = 1.5"}},
           {{1, 3, 1}, {2}, {"trainNdxs(3) = 1 repeats"}},
           {{1, 3}, {2, 3}, {"testNdxs(2) = 3 is also in trainNdxs"}}}) {
    const fs::path sdir = dir / ("s" + std::to_string(k));
    fs::create_directories(sdir);
    const Aux bad = write_aux(sdir, train, test);
    ConvertSpec s = base;
    s.splits = bad.splits;
    const std::string e = attempt(s);
    expect_has(e, {"splits.mat"});
    for (const char* w : want) expect_has(e, {w});
  }
  {  // an output folder in use is refused before anything is written
    fs::create_directories(dir / "used/train/image");
    std::FILE* f = std::fopen((dir / "used/train/image/0.npy").c_str(), "w");
    std::fclose(f);
    ConvertSpec s = base;
    s.out = dir / "used";
    expect_has(error_of([&] { convert_nyuv2_mat(s); }), {"not empty"});
  }
  fs::remove_all(dir);
}

TEST(Nyuv2Convert, TheCommandConverts) {
  const fs::path dir = scratch("cmd");
  write_labeled(dir / "l.mat", MAT_FT_MAT73);
  const Aux aux = write_aux(dir);
  CLI::App root;
  const ConvertCommand cmd = add_convert_command(root);
  const std::vector<std::string> args = {
      "prog",           "convert",           "--mat",          (dir / "l.mat").string(),
      "--class-map-40", aux.map40.string(),  "--class-map-13", aux.map13.string(),
      "--splits",       aux.splits.string(), "--out",          (dir / "out").string(),
      "--quiet"};
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  root.parse(static_cast<int>(argv.size()), argv.data());
  ASSERT_TRUE(cmd.parsed());
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_convert_command(cmd), 0);
  const std::string said = testing::internal::GetCapturedStdout();
  EXPECT_NE(said.find("3 train, 2 val"), std::string::npos) << said;
  check_sample(dir / "out", "val", 0, 2);
  fs::remove_all(dir);
}

#endif  // GN_HAVE_MATIO

}  // namespace
}  // namespace gn::nyuv2
