#pragma once
// The official NYUv2 labeled set (nyu_depth_v2_labeled.mat, MATLAB v7.3) converted to the per-sample .npy
// layout of README.md ("Data", "Converting the real data"), read through libmatio (matfile.h).
//
// Inputs, as MATLAB stores them (dims in MATLAB's column-major order, rows first; h5py shows them reversed):
//   nyu_depth_v2_labeled.mat  images (H, W, 3, N) uint8; depths (H, W, N) single or double, metres;
//                             labels (H, W, N) integer class (uint16 in the official file) or whole-valued
//                             double/single, 0 = unlabeled, 1..894. Official: H = 480, W = 640, N = 1449.
//   classMapping40.mat        mapClass, a vector of K entries (894): label v in 1..K -> 1..40
//   class13Mapping.mat        classMapping13.labels13, a vector of M entries (40): 1..M -> 1..13
//   splits.mat                trainNdxs, testNdxs: 1-based sample indices (795 and 654)
// Labels: 0 -> -1 (ignored); v -> labels13(mapClass(v)) - 1, so 0..12 in README's class order. Without
// --class-map-40 the labels must already be 40-class (0..M); without both maps, 13-class (0..13).
// Outputs: DIR/{train,val}/{image,label,depth,normal}/{i}.npy, i = 0.. in the order of trainNdxs (train) and
// testNdxs (val): image (H, W, 3) float32 in [0, 1]; label (H, W) int64 in -1..12; depth (H, W, 1) float32
// metres, 0 = invalid; normal (H, W, 3) float32, unit or all zero = invalid (normals_from_depth), and
// DIR/conversion.json (what was converted, how, and which source sample each output id is).
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "apps/nyuv2/matfile.h"
#include "core/tensor.h"

namespace gn::nyuv2 {

// The NYUv2 toolbox's RGB camera intrinsics (camera_params.m: fx_rgb, fy_rgb, cx_rgb, cy_rgb), for the
// 640x480 images, in MATLAB's 1-based pixel coordinates (rgb_plane2rgb_world back-projects pixel (xx, yy),
// xx in 1..640, as x = (xx - cx) z / fx).
struct Intrinsics {
  double fx = 5.1885790117450188e+02, fy = 5.1946961112127485e+02;
  double cx = 3.2558244941119034e+02, cy = 2.5373616633400465e+02;
};

// Surface normals from a depth map, in camera coordinates (x right, y down, z forward, as synth.h):
// pixel (r, c) with depth z > 0 back-projects to P = ((u - cx) z / fx, (v - cy) z / fy, z) with
// u = cols[c] + 1, v = rows[r] + 1 (cols/rows: each output pixel's 0-based column/row in the intrinsics'
// 640x480 grid; empty = the identity, 0..W-1 / 0..H-1). n = (P(r, c+1) - P(r, c-1)) x (P(r+1, c) - P(r-1, c)),
// normalised and turned to face the camera (n . P < 0). Zero (invalid) on the border, where the pixel or
// one of its four neighbours has depth 0, and where the cross product vanishes.
// depth: (H, W) or (H, W, 1) float32 -> (H, W, 3) float32.
Tensor normals_from_depth(const Tensor& depth, const Intrinsics& k = {}, const std::vector<double>& cols = {},
                          const std::vector<double>& rows = {});

struct ConvertSpec {
  std::filesystem::path mat;           // nyu_depth_v2_labeled.mat (v7.3 or v5)
  std::filesystem::path class_map_40;  // classMapping40.mat; empty: labels are already 40- or 13-class
  std::filesystem::path class_map_13;  // class13Mapping.mat; empty: labels are already 13-class
  std::filesystem::path splits;        // splits.mat; empty: the UNOFFICIAL fallback split (ConvertResult)
  std::filesystem::path out;           // DIR; DIR/train and DIR/val must not exist or be empty
  // Output size; 0, 0 = as stored. Otherwise (e.g. 288, 384, the preprocessed sets' size) resized with
  // half-pixel centres: image bilinear, labels and depth nearest (source index floor((i + 0.5) * in / out)),
  // normals computed from the resized depth at the 3-D points of the source pixels it took.
  std::int64_t height = 0, width = 0;
  Intrinsics intrinsics;  // for the stored size (the toolbox's 640x480 values)
  std::function<void(std::int64_t done, std::int64_t total)> progress;  // after each batch; may be empty
  std::function<void(const std::string&)> warn;
  // How the .mat files are opened; empty = libmatio (open_mat_file). The fuzzer gives an in-memory source.
  MatOpener open;  // each warning as it is found (also in ConvertResult); may be empty
};

struct ConvertResult {
  std::string mat_version;                          // "v7.3 (HDF5)", "v5"
  std::int64_t samples = 0, height = 0, width = 0;  // as stored
  std::int64_t out_height = 0, out_width = 0;
  std::vector<std::int64_t> train, val;  // 1-based source indices of output ids 0, 1, ...
  bool official_split = false;           // false: no splits.mat; the fallback below
  std::vector<std::string> warnings;     // for the caller to print (the fallback split, ...)
};

// Without splits.mat the official split cannot be known. The fallback: the first round(N * 795 / 1449)
// samples in file order (1..795 of the official 1449) are train, the rest val (796..1449). It is NOT the
// official split (which interleaves), so results are not comparable with published ones: a warning says so
// and conversion.json records it.
std::int64_t fallback_train_count(std::int64_t samples);

// Converts; throws a gn::Error naming the file and variable for every bad input (missing file or variable,
// wrong class, wrong dims, a label without a mapping, a split index out of range or repeated, ...). Checks
// everything it can before writing the first file; a label or depth value problem is found while converting,
// and then the train/ and val/ folders it created are removed again (no half-converted set is left;
// conversion.json, written last, marks a finished conversion).
ConvertResult convert_nyuv2_mat(const ConvertSpec& spec);

}  // namespace gn::nyuv2
