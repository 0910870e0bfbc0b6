#include "apps/nyuv2/synth.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "apps/common/npy.h"
#include "apps/common/parallel_for.h"
#include "core/error.h"
#include "core/rng.h"

namespace gn::nyuv2 {

namespace {

namespace fs = std::filesystem;

struct Vec3 {
  double x = 0, y = 0, z = 0;
  double operator[](int a) const { return a == 0 ? x : a == 1 ? y : z; }
  double& operator[](int a) { return a == 0 ? x : a == 1 ? y : z; }
};
Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
Vec3 operator*(Vec3 a, double s) { return {a.x * s, a.y * s, a.z * s}; }
double dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
Vec3 cross(Vec3 a, Vec3 b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
Vec3 normalized(Vec3 a) { return a * (1.0 / std::sqrt(dot(a, a))); }

// splitmix64's finaliser: a good 64-bit mix, used for per-pixel noise and per-sample seeds.
std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t hash(std::uint64_t a, std::uint64_t b) { return mix64(a ^ mix64(b)); }
double unit(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }  // [0, 1)

// Smooth value noise in [0, 1] over 2-D surface coordinates: bilinear over hashed lattice values.
double value_noise(std::uint64_t seed, double u, double v) {
  const double fu = std::floor(u), fv = std::floor(v);
  const double a = u - fu, b = v - fv;
  const auto iu = static_cast<std::int64_t>(fu), iv = static_cast<std::int64_t>(fv);
  auto at = [&](std::int64_t i, std::int64_t j) {
    return unit(hash(seed, static_cast<std::uint64_t>(i) * 0x100000001b3ULL ^ static_cast<std::uint64_t>(j)));
  };
  const double sa = a * a * (3 - 2 * a), sb = b * b * (3 - 2 * b);
  return (at(iu, iv) * (1 - sa) + at(iu + 1, iv) * sa) * (1 - sb) +
         (at(iu, iv + 1) * (1 - sa) + at(iu + 1, iv + 1) * sa) * sb;
}

constexpr std::array<std::array<double, 3>, kNumClasses> kPalette = {{
    {0.75, 0.30, 0.30},  // bed
    {0.90, 0.80, 0.20},  // books
    {0.92, 0.92, 0.90},  // ceiling
    {0.45, 0.30, 0.15},  // chair
    {0.55, 0.40, 0.25},  // floor
    {0.60, 0.50, 0.35},  // furniture
    {0.20, 0.60, 0.30},  // objects
    {0.30, 0.30, 0.80},  // picture
    {0.50, 0.20, 0.50},  // sofa
    {0.35, 0.25, 0.15},  // table
    {0.08, 0.08, 0.10},  // tv
    {0.80, 0.78, 0.70},  // wall
    {0.70, 0.85, 1.00},  // window
}};
// Texture frequency (cycles per metre) per class: wood floors and books are busy, walls and ceilings smooth.
constexpr std::array<double, kNumClasses> kTextureFreq = {6, 20, 1, 8, 10, 4, 12, 15, 5, 8, 1, 1.5, 1};
constexpr std::array<std::int64_t, 8> kBoxClasses = {kBed, kBooks, kChair, kFurniture, kObjects, kSofa, kTable, kTv};

struct Box {
  Vec3 lo, hi;
  std::int64_t cls;
  int type_index;  // index in kBoxClasses (keypoint types)
};

// A rectangle on a wall (window, picture): the wall is axis `axis` (0: x, 2: z) at side lo/hi; the
// rectangle spans [a0, a1] along the other horizontal axis and [y0, y1] vertically.
struct WallRect {
  int axis;
  bool hi_side;
  double a0, a1, y0, y1;
  std::int64_t cls;
};

struct Scene {
  Vec3 room;  // extents: x in [-room.x/2, room.x/2], y in [0, room.y], z in [-room.z/2, room.z/2]
  std::vector<Box> boxes;
  std::vector<WallRect> rects;
  Vec3 eye, right, down, fwd;  // camera pose (world frame, y up)
  double fx, fy, cx, cy;
  Vec3 light;                                // unit, towards the light (world)
  std::array<double, 3 * kNumClasses> tint;  // per-scene colour jitter
  double max_range;                          // beyond: invalid (sensor range)
  std::uint64_t noise_seed;
};

double uniform(Generator& g, double lo, double hi) { return lo + (hi - lo) * g.uniform(); }

Scene make_scene(std::int64_t H, std::int64_t W, std::uint64_t seed) {
  Generator g(seed);
  Scene s;
  s.room = {uniform(g, 3.5, 6.5), uniform(g, 2.4, 3.0), uniform(g, 3.5, 7.5)};
  const double hx = s.room.x / 2, hz = s.room.z / 2;
  // Camera: somewhere in the room, 1.2-1.8 m high, any heading, looking slightly down, a little roll.
  s.eye = {uniform(g, -hx + 0.8, hx - 0.8), uniform(g, 1.2, 1.8), uniform(g, -hz + 0.8, hz - 0.8)};
  const double yaw = uniform(g, 0, 2 * std::numbers::pi), pitch = uniform(g, -0.45, 0.05),
               roll = uniform(g, -0.06, 0.06);
  s.fwd = {std::sin(yaw) * std::cos(pitch), std::sin(pitch), std::cos(yaw) * std::cos(pitch)};
  const Vec3 r0{-std::cos(yaw), 0, std::sin(yaw)};  // (right, down, forward) is right-handed
  const Vec3 d0 = cross(s.fwd, r0);
  s.right = r0 * std::cos(roll) + d0 * std::sin(roll);
  s.down = d0 * std::cos(roll) - r0 * std::sin(roll);
  s.fx = s.fy = 0.81 * static_cast<double>(W) * uniform(g, 0.9, 1.1);  // NYUv2's Kinect: 519 px at 640 wide
  s.cx = static_cast<double>(W) / 2;
  s.cy = static_cast<double>(H) / 2;
  s.light = normalized(Vec3{uniform(g, -0.6, 0.6), 1.0, uniform(g, -0.6, 0.6)});
  for (double& t : s.tint) t = uniform(g, 0.85, 1.15);
  s.max_range = uniform(g, 5.5, 9.0);
  s.noise_seed = g.next_u64();

  // Boxes on the floor (books on top of another box, a tv against a wall), never around the camera.
  const int n_boxes = 2 + static_cast<int>(g.next_u64() % 4);
  for (int b = 0; b < n_boxes && s.boxes.size() < 6; ++b) {
    const int ti = static_cast<int>(g.next_u64() % kBoxClasses.size());
    const std::int64_t cls = kBoxClasses[static_cast<std::size_t>(ti)];
    double w = 0, h = 0, d = 0;
    switch (cls) {
      case kBed:
        w = uniform(g, 1.4, 2.0), h = uniform(g, 0.5, 0.7), d = uniform(g, 1.9, 2.1);
        break;
      case kBooks:
        w = uniform(g, 0.2, 0.35), h = uniform(g, 0.05, 0.2), d = uniform(g, 0.15, 0.3);
        break;
      case kChair:
        w = uniform(g, 0.45, 0.6), h = uniform(g, 0.8, 1.0), d = uniform(g, 0.45, 0.6);
        break;
      case kFurniture:
        w = uniform(g, 0.6, 1.2), h = uniform(g, 1.0, 2.0), d = uniform(g, 0.4, 0.6);
        break;
      case kObjects:
        w = uniform(g, 0.2, 0.5), h = uniform(g, 0.2, 0.6), d = uniform(g, 0.2, 0.5);
        break;
      case kSofa:
        w = uniform(g, 1.6, 2.2), h = uniform(g, 0.7, 0.9), d = uniform(g, 0.8, 1.0);
        break;
      case kTable:
        w = uniform(g, 0.8, 1.6), h = uniform(g, 0.7, 0.8), d = uniform(g, 0.6, 1.0);
        break;
      default:  // tv: thin, on a wall
        w = uniform(g, 0.8, 1.2), h = uniform(g, 0.5, 0.7), d = uniform(g, 0.05, 0.1);
        break;
    }
    if (g.uniform() < 0.5 && cls != kTv) std::swap(w, d);
    w = std::min(w, s.room.x - 0.4);
    d = std::min(d, s.room.z - 0.4);
    Box box{{}, {}, cls, ti};
    double base = 0;
    if (cls == kBooks && !s.boxes.empty()) {
      const Box& under = s.boxes[g.next_u64() % s.boxes.size()];
      if (under.cls != kTv) base = under.hi.y;
      const double x = uniform(g, under.lo.x, std::max(under.lo.x, under.hi.x - w));
      const double z = uniform(g, under.lo.z, std::max(under.lo.z, under.hi.z - d));
      box.lo = {x, base, z};
    } else if (cls == kTv) {
      base = uniform(g, 0.9, 1.4);
      const double x = uniform(g, -hx + 0.1, hx - 0.1 - w);
      box.lo = {x, base, g.uniform() < 0.5 ? -hz : hz - d};
    } else {
      box.lo = {uniform(g, -hx + 0.1, hx - 0.1 - w), 0, uniform(g, -hz + 0.1, hz - 0.1 - d)};
    }
    box.hi = {box.lo.x + w, box.lo.y + h, box.lo.z + d};
    box.hi.y = std::min(box.hi.y, s.room.y - 0.05);
    const double m = 0.5;  // the camera keeps half a metre from every box
    const bool around_eye = s.eye.x > box.lo.x - m && s.eye.x < box.hi.x + m && s.eye.z > box.lo.z - m &&
                            s.eye.z < box.hi.z + m && s.eye.y < box.hi.y + m;
    if (!around_eye) s.boxes.push_back(box);
  }
  // A window and a picture on two different walls.
  const int wall_a = static_cast<int>(g.next_u64() % 4);
  const int wall_b = (wall_a + 1 + static_cast<int>(g.next_u64() % 3)) % 4;
  for (const auto& [wall, cls] : {std::pair{wall_a, kWindow}, std::pair{wall_b, kPicture}}) {
    WallRect r{wall < 2 ? 0 : 2, wall % 2 == 1, 0, 0, 0, 0, cls};
    const double span = r.axis == 0 ? s.room.z : s.room.x;
    const double width = cls == kWindow ? uniform(g, 0.8, 1.6) : uniform(g, 0.4, 0.9);
    const double height = cls == kWindow ? uniform(g, 0.8, 1.3) : uniform(g, 0.3, 0.7);
    r.a0 = uniform(g, -span / 2 + 0.2, span / 2 - 0.2 - width);
    r.a1 = r.a0 + width;
    r.y0 = uniform(g, 0.9, s.room.y - 0.2 - height);
    r.y1 = r.y0 + height;
    s.rects.push_back(r);
  }
  return s;
}

struct Hit {
  double t = std::numeric_limits<double>::infinity();  // = depth (the ray's z component is 1)
  Vec3 normal;                                         // world, facing the camera
  std::int64_t cls = -1;
  Vec3 point;
  int axis = 1;  // the axis the surface is perpendicular to
};

Hit cast(const Scene& s, Vec3 dir) {
  Hit hit;
  // The room from inside: the ray leaves through the nearest of the six planes.
  const Vec3 lo{-s.room.x / 2, 0, -s.room.z / 2}, hi{s.room.x / 2, s.room.y, s.room.z / 2};
  for (int a = 0; a < 3; ++a) {
    if (std::abs(dir[a]) < 1e-12) continue;
    const double t = ((dir[a] > 0 ? hi[a] : lo[a]) - s.eye[a]) / dir[a];
    if (t > 0 && t < hit.t) {
      hit.t = t;
      hit.axis = a;
      hit.normal = {};
      hit.normal[a] = dir[a] > 0 ? -1 : 1;
      hit.cls = a == 1 ? (dir[a] < 0 ? kFloor : kCeiling) : kWall;
    }
  }
  // Boxes from outside: the slab method.
  for (const Box& b : s.boxes) {
    double t_near = -std::numeric_limits<double>::infinity(), t_far = std::numeric_limits<double>::infinity();
    int axis = 0;
    bool miss = false;
    for (int a = 0; a < 3 && !miss; ++a) {
      if (std::abs(dir[a]) < 1e-12) {
        miss = s.eye[a] < b.lo[a] || s.eye[a] > b.hi[a];
        continue;
      }
      double t0 = (b.lo[a] - s.eye[a]) / dir[a], t1 = (b.hi[a] - s.eye[a]) / dir[a];
      if (t0 > t1) std::swap(t0, t1);
      if (t0 > t_near) {
        t_near = t0;
        axis = a;
      }
      t_far = std::min(t_far, t1);
    }
    if (miss || t_near > t_far || t_near <= 0 || t_near >= hit.t) continue;
    hit.t = t_near;
    hit.axis = axis;
    hit.normal = {};
    hit.normal[axis] = dir[axis] > 0 ? -1 : 1;
    hit.cls = b.cls;
  }
  hit.point = s.eye + dir * hit.t;
  if (hit.cls == kWall) {
    for (const WallRect& r : s.rects) {
      const bool on_wall = r.axis == hit.axis && ((hit.point[r.axis] > 0) == r.hi_side);
      const double a = hit.point[r.axis == 0 ? 2 : 0];
      if (on_wall && a >= r.a0 && a <= r.a1 && hit.point.y >= r.y0 && hit.point.y <= r.y1) hit.cls = r.cls;
    }
  }
  return hit;
}

}  // namespace

std::string_view class_name(std::int64_t c) {
  static constexpr std::array<std::string_view, kNumClasses> names = {
      "bed",     "books", "ceiling", "chair", "floor", "furniture", "objects",
      "picture", "sofa",  "table",   "tv",    "wall",  "window"};
  return c >= 0 && c < kNumClasses ? names[static_cast<std::size_t>(c)] : "ignored";
}

SynthSample render_synthetic_scene(std::int64_t H, std::int64_t W, std::uint64_t seed, std::int64_t K) {
  GN_CHECK(H >= 8 && W >= 8 && H <= 4096 && W <= 4096, "synthetic NYUv2: image size {}x{} must be in [8, 4096]", H, W);
  GN_CHECK(K >= 0 && K <= 256, "synthetic NYUv2: {} keypoint types (must be in [0, 256])", K);
  const Scene s = make_scene(H, W, seed);
  SynthSample out;
  out.image = Tensor::empty({H, W, 3});
  out.label = Tensor::empty({H, W}, DType::Int64);
  out.depth = Tensor::empty({H, W, 1});
  out.normal = Tensor::empty({H, W, 3});
  float* img = out.image.data<float>();
  std::int64_t* lab = out.label.data<std::int64_t>();
  float* dep = out.depth.data<float>();
  float* nor = out.normal.data<float>();
  std::vector<double> zbuf(static_cast<std::size_t>(H * W));  // unmasked depth, for keypoint occlusion

  // Invalid regions: a few elliptical holes (as Kinect's missing returns).
  Generator g(hash(seed, 0x686f6c6573ULL));
  struct Hole {
    double u, v, ru, rv;
  };
  std::vector<Hole> holes(g.next_u64() % 4);
  for (Hole& h : holes) {
    h = {g.uniform() * static_cast<double>(W), g.uniform() * static_cast<double>(H),
         (0.02 + 0.06 * g.uniform()) * static_cast<double>(W), (0.02 + 0.06 * g.uniform()) * static_cast<double>(W)};
  }

  for (std::int64_t v = 0; v < H; ++v) {
    for (std::int64_t u = 0; u < W; ++u) {
      const std::int64_t p = v * W + u;
      const double xn = (static_cast<double>(u) + 0.5 - s.cx) / s.fx, yn = (static_cast<double>(v) + 0.5 - s.cy) / s.fy;
      const Vec3 dir = s.right * xn + s.down * yn + s.fwd;
      const Hit hit = cast(s, dir);
      zbuf[static_cast<std::size_t>(p)] = hit.t;
      const Vec3 nc{dot(hit.normal, s.right), dot(hit.normal, s.down), dot(hit.normal, s.fwd)};
      // Colour: class colour x texture x light, plus noise.
      const int a0 = hit.axis == 0 ? 1 : 0, a1 = hit.axis == 2 ? 1 : 2;  // the surface's two in-plane axes
      const auto c = static_cast<std::size_t>(hit.cls);
      const double f = kTextureFreq[c];
      const double tex = 0.8 + 0.2 * value_noise(s.noise_seed + c, hit.point[a0] * f, hit.point[a1] * f);
      const double shade = hit.cls == kWindow ? 1.0 : 0.35 + 0.65 * std::max(0.0, dot(hit.normal, s.light));
      const double fade = 1.0 / (1.0 + 0.03 * hit.t);
      for (int ch = 0; ch < 3; ++ch) {
        const double noise = (unit(hash(s.noise_seed, static_cast<std::uint64_t>(p * 3 + ch))) - 0.5) * 0.04;
        const double val = kPalette[c][static_cast<std::size_t>(ch)] * s.tint[c * 3 + static_cast<std::size_t>(ch)] *
                               tex * shade * fade +
                           noise;
        img[p * 3 + ch] = static_cast<float>(std::clamp(val, 0.0, 1.0));
      }
      bool valid = hit.t <= s.max_range;
      for (const Hole& h : holes) {
        const double du = (static_cast<double>(u) - h.u) / h.ru, dv = (static_cast<double>(v) - h.v) / h.rv;
        if (du * du + dv * dv < 1) valid = false;
      }
      lab[p] = valid ? hit.cls : -1;
      dep[p] = valid ? static_cast<float>(hit.t) : 0.0f;
      nor[p * 3 + 0] = valid ? static_cast<float>(nc.x) : 0.0f;
      nor[p * 3 + 1] = valid ? static_cast<float>(nc.y) : 0.0f;
      nor[p * 3 + 2] = valid ? static_cast<float>(nc.z) : 0.0f;
    }
  }

  if (K > 0) {
    out.keypoint = Tensor::zeros({K, H, W});
    float* kp = out.keypoint.data<float>();
    const double sigma = std::max(1.0, static_cast<double>(W) / 64);
    const auto reach = static_cast<std::int64_t>(std::ceil(3 * sigma));
    for (const Box& b : s.boxes) {
      const Vec3 centre = (b.lo + b.hi) * 0.5 - s.eye;
      const Vec3 cc{dot(centre, s.right), dot(centre, s.down), dot(centre, s.fwd)};
      for (int corner = 0; corner < 8; ++corner) {
        const Vec3 P{corner & 1 ? b.hi.x : b.lo.x, corner & 2 ? b.hi.y : b.lo.y, corner & 4 ? b.hi.z : b.lo.z};
        const Vec3 q = P - s.eye;
        const Vec3 pc{dot(q, s.right), dot(q, s.down), dot(q, s.fwd)};
        if (pc.z < 0.1) continue;
        const double pu = s.fx * pc.x / pc.z + s.cx, pv = s.fy * pc.y / pc.z + s.cy;
        if (pu < 0 || pv < 0 || pu >= static_cast<double>(W) || pv >= static_cast<double>(H)) continue;
        const double seen =
            zbuf[static_cast<std::size_t>(static_cast<std::int64_t>(pv) * W + static_cast<std::int64_t>(pu))];
        if (seen < pc.z * 0.97 - 0.03) continue;  // occluded
        const int upper = pc.y < cc.y ? 1 : 0, far = pc.z > cc.z ? 1 : 0;
        const std::int64_t type = (b.type_index * 4 + upper * 2 + far) % K;
        float* heat = kp + type * H * W;
        const auto iu = static_cast<std::int64_t>(pu), iv = static_cast<std::int64_t>(pv);
        for (std::int64_t y = std::max<std::int64_t>(0, iv - reach); y <= std::min(H - 1, iv + reach); ++y) {
          for (std::int64_t x = std::max<std::int64_t>(0, iu - reach); x <= std::min(W - 1, iu + reach); ++x) {
            const double dx = static_cast<double>(x) + 0.5 - pu, dy = static_cast<double>(y) + 0.5 - pv;
            const auto val = static_cast<float>(std::exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)));
            heat[y * W + x] = std::max(heat[y * W + x], val);
          }
        }
      }
    }
  }
  return out;
}

std::uint64_t sample_seed(std::uint64_t seed, std::string_view split, std::int64_t index) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the split name
  for (char c : split) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return hash(hash(seed, h), static_cast<std::uint64_t>(index));
}

void write_synthetic_nyuv2(const fs::path& dir, const SynthSpec& spec) {
  GN_CHECK(
      spec.train >= 0 && spec.val >= 0 && spec.train + spec.val > 0 && spec.train <= 1000000 && spec.val <= 1000000,
      "write_synthetic_nyuv2: sample counts train {} and val {} must be in [0, 1e6], not both 0", spec.train, spec.val);
  // (a plain loop variable, not a structured binding: clang 14 cannot capture one in the OpenMP region)
  for (const std::pair<const char*, std::int64_t>& split_count :
       {std::pair{"train", spec.train}, std::pair{"val", spec.val}}) {
    const char* const split = split_count.first;
    const std::int64_t n = split_count.second;
    const fs::path root = dir / split;
    std::error_code ec;
    if (fs::exists(root, ec) && !fs::is_empty(root, ec))
      GN_FAIL("write_synthetic_nyuv2: {} exists and is not empty: write into a new directory", root.string());
    std::vector<std::string> folders = {"image", "label", "depth", "normal"};
    if (spec.keypoints > 0) folders.emplace_back("keypoint");
    for (const auto& f : folders) {
      fs::create_directories(root / f, ec);
      if (ec) GN_FAIL("write_synthetic_nyuv2: cannot create {}: {}", (root / f).string(), ec.message());
    }
    app::parallel_for_items(n, 0, [&](std::int64_t i) {
      const SynthSample smp =
          render_synthetic_scene(spec.height, spec.width, sample_seed(spec.seed, split, i), spec.keypoints);
      const std::string name = std::to_string(i) + ".npy";
      app::write_npy(root / "image" / name, smp.image);
      app::write_npy(root / "label" / name, smp.label);
      app::write_npy(root / "depth" / name, smp.depth);
      app::write_npy(root / "normal" / name, smp.normal);
      if (spec.keypoints > 0) app::write_npy(root / "keypoint" / name, smp.keypoint);
    });
  }
}

}  // namespace gn::nyuv2
