#pragma once
// Synthetic NYUv2-like scenes, written in the preprocessed per-sample layout (see README.md, "Data"). They are
// NOT real NYUv2: they stand in for it where the real set cannot be downloaded (tests, smoke runs, timing).
//
// A scene is a box-shaped room (floor, ceiling, four walls, a window and a picture on the walls) holding a
// few axis-aligned boxes (beds, chairs, tables, sofas, ...), seen by a pinhole camera at a random pose inside
// the room. Every pixel's ray is cast; the first surface hit gives
//   depth  its z in camera coordinates (metres),
//   normal its unit normal in camera coordinates (x right, y down, z forward: OpenCV's convention), facing
//          the camera,
//   label  its class among the 13 NYUv2 classes,
//   image  a colour per class, textured (value noise in surface coordinates) and lit by a directional light
//          through the normal, plus pixel noise: every task can be read off the image.
// As in Kinect data some pixels are invalid (depth 0, label -1, normal all zero): random elliptical holes and
// everything beyond the scene's sensor range. The image stays valid everywhere.
// Keypoints (K > 0): the visible corners of the boxes, as Gaussian heatmaps (sigma = max(1, W/64) pixels);
// a corner's type is (box class, upper/lower, near/far in the camera) mod K, so types are flip-invariant.
//
// Deterministic: sample i of a split depends only on (seed, split, i), never on thread count or order, so the
// same arguments write byte-identical files.
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/tensor.h"

namespace gn::nyuv2 {

// The 13 NYUv2 classes (class13Mapping order), 0..12; -1 marks ignored pixels.
enum Class13 : std::int64_t {
  kBed = 0,
  kBooks = 1,
  kCeiling = 2,
  kChair = 3,
  kFloor = 4,
  kFurniture = 5,
  kObjects = 6,
  kPicture = 7,
  kSofa = 8,
  kTable = 9,
  kTv = 10,
  kWall = 11,
  kWindow = 12,
};
constexpr int kNumClasses = 13;
std::string_view class_name(std::int64_t c);  // "bed", ..., "window"

// One rendered sample, HWC as the files store it.
struct SynthSample {
  Tensor image;     // (H, W, 3) float32 in [0, 1]
  Tensor label;     // (H, W) int64 in -1..12
  Tensor depth;     // (H, W, 1) float32 metres, 0 = invalid
  Tensor normal;    // (H, W, 3) float32 unit, all zero = invalid
  Tensor keypoint;  // (K, H, W) float32 in [0, 1]; undefined when K = 0
};

// Renders one scene. The same arguments give the same sample.
SynthSample render_synthetic_scene(std::int64_t height, std::int64_t width, std::uint64_t seed,
                                   std::int64_t keypoints = 0);

struct SynthSpec {
  std::int64_t train = 16;
  std::int64_t val = 8;
  std::int64_t height = 96;
  std::int64_t width = 128;
  std::uint64_t seed = 0;
  std::int64_t keypoints = 0;  // K; 0 writes no keypoint/ folder
};

// Writes DIR/{train,val}/{image,label,depth,normal[,keypoint]}/{i}.npy for i = 0..N-1 (N = spec.train or
// spec.val); creates the folders. Sample i of split s is render_synthetic_scene(H, W, sample_seed(seed, s, i),
// K). Samples are rendered in parallel (OpenMP); the files do not depend on the thread count. Throws a
// gn::Error naming the file on failure (each file is written atomically: no half-written file is left).
void write_synthetic_nyuv2(const std::filesystem::path& dir, const SynthSpec& spec);
// The same with the spec's fields as arguments.
inline void write_synthetic_nyuv2(const std::filesystem::path& dir, std::int64_t train, std::int64_t val,
                                  std::int64_t height, std::int64_t width, std::uint64_t seed,
                                  std::int64_t keypoints = 0) {
  write_synthetic_nyuv2(dir, SynthSpec{train, val, height, width, seed, keypoints});
}
// The per-sample seed: a hash of (seed, split name, index).
std::uint64_t sample_seed(std::uint64_t seed, std::string_view split, std::int64_t index);

}  // namespace gn::nyuv2
