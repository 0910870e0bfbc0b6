// apps/nyuv2 data: synthetic scenes (deterministic, geometrically consistent), the per-sample data set
// (indexing, shapes, refusals), LibMTL's augmentation (invariants) and the prefetching loader (batches equal
// direct loads, seeded order, errors from the thread, resume).
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "apps/common/npy.h"
#include "apps/nyuv2/augment.h"
#include "apps/nyuv2/dataset.h"
#include "apps/nyuv2/loader.h"
#include "apps/nyuv2/synth.h"
#include "core/error.h"
#include "tests/apps/scratch_files.h"

namespace gn::nyuv2 {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) { return test_files::scratch_dir("nyuv2", name, false); }

using test_files::slurp;

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

template <class F>
void expect_error(F f, const std::string& a, const std::string& b = "") {
  try {
    f();
    FAIL() << "no error; expected one naming " << a;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(a), std::string::npos) << msg;
    if (!b.empty()) {
      EXPECT_NE(msg.find(b), std::string::npos) << msg;
    }
  }
}

const std::vector<NyuTask> kAllTasks = {NyuTask::Segmentation, NyuTask::Depth, NyuTask::Normal, NyuTask::Keypoint};

TEST(NyuSynth, SameSeedSameBytesWhateverTheThreadCount) {
  const SynthSample a = render_synthetic_scene(48, 64, 11, 8), b = render_synthetic_scene(48, 64, 11, 8);
  EXPECT_TRUE(same_bytes(a.image, b.image) && same_bytes(a.label, b.label) && same_bytes(a.depth, b.depth) &&
              same_bytes(a.normal, b.normal) && same_bytes(a.keypoint, b.keypoint));
  const SynthSample c = render_synthetic_scene(48, 64, 12, 8);
  EXPECT_FALSE(same_bytes(a.image, c.image));

  const fs::path d1 = scratch("det1"), d2 = scratch("det2");
  const SynthSpec spec{5, 3, 24, 32, 7, 4};
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  write_synthetic_nyuv2(d1, spec);
  omp_set_num_threads(3);
  write_synthetic_nyuv2(d2, spec);
  omp_set_num_threads(threads);
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(d1)) {
    if (!e.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(slurp(e.path()), slurp(d2 / fs::relative(e.path(), d1))) << e.path();
  }
  EXPECT_EQ(files, 8u * 5u);
  EXPECT_TRUE(fs::exists(d1 / "val" / "keypoint" / "2.npy"));
  // A non-empty split folder is refused, not mixed with an earlier set.
  expect_error([&] { write_synthetic_nyuv2(d1, spec); }, (d1 / "train").string(), "not empty");
  fs::remove_all(d1);
  fs::remove_all(d2);
}

// Per pixel: label valid <=> depth > 0 <=> normal non-zero; valid normals are unit; floor normals point up
// (-y in camera coordinates), ceiling normals down; the image is in [0, 1]; every scene shows the room.
TEST(NyuSynth, GeometryIsConsistent) {
  std::set<std::int64_t> classes;
  std::int64_t invalid = 0, pixels = 0;
  double kp_max = 0;
  for (std::uint64_t seed = 0; seed < 12; ++seed) {
    const std::int64_t H = 48, W = 64;
    const SynthSample s = render_synthetic_scene(H, W, seed, 8);
    const float* img = s.image.data<float>();
    const std::int64_t* lab = s.label.data<std::int64_t>();
    const float* dep = s.depth.data<float>();
    const float* nor = s.normal.data<float>();
    for (std::int64_t p = 0; p < H * W; ++p) {
      for (int c = 0; c < 3; ++c) ASSERT_TRUE(img[p * 3 + c] >= 0 && img[p * 3 + c] <= 1);
      ASSERT_GE(lab[p], -1);
      ASSERT_LT(lab[p], kNumClasses);
      const double nx = nor[p * 3], ny = nor[p * 3 + 1], nz = nor[p * 3 + 2];
      const double norm = std::sqrt(nx * nx + ny * ny + nz * nz);
      ++pixels;
      if (lab[p] == -1) {
        ++invalid;
        ASSERT_EQ(dep[p], 0.0f) << "seed " << seed << " pixel " << p;
        ASSERT_EQ(norm, 0.0) << "seed " << seed << " pixel " << p;
        continue;
      }
      classes.insert(lab[p]);
      ASSERT_GT(dep[p], 0.1f);
      ASSERT_LT(dep[p], 9.0f);
      ASSERT_NEAR(norm, 1.0, 1e-5);
      if (lab[p] == kFloor) {
        ASSERT_LT(ny, -0.85) << "floor normal must point up (camera -y)";
      }
      if (lab[p] == kCeiling) {
        ASSERT_GT(ny, 0.85) << "ceiling normal must point down (camera +y)";
      }
      if (lab[p] == kWall || lab[p] == kWindow || lab[p] == kPicture) {
        ASSERT_LT(std::abs(ny), 0.5);
      }
    }
    const std::vector<double> kp = s.keypoint.to_vector();
    for (double v : kp) ASSERT_TRUE(v >= 0 && v <= 1);
    kp_max = std::max(kp_max, *std::ranges::max_element(kp));
  }
  EXPECT_TRUE(classes.contains(kFloor) && classes.contains(kWall) && classes.contains(kCeiling));
  EXPECT_GE(classes.size(), 8u) << "the scenes should show most classes";
  EXPECT_GT(invalid, 0) << "some pixels must be invalid, as in Kinect data";
  EXPECT_LT(invalid, pixels / 3);
  EXPECT_GT(kp_max, 0.5) << "some box corner must be visible";
}

// Depth along a floor pixel's ray agrees with the floor plane: points on the floor, back-projected with the
// normals, satisfy n . X = const (one plane): checked through the camera-frame plane offset n . X, which must
// agree across floor pixels of one image (X = depth * (x_n, y_n, 1) with the focal length fitted).
TEST(NyuSynth, FloorPixelsLieOnOnePlane) {
  const std::int64_t H = 60, W = 80;
  // The first scene that shows enough floor.
  SynthSample s;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    s = render_synthetic_scene(H, W, seed);
    const std::vector<double> l = s.label.to_vector();
    if (std::ranges::count(l, static_cast<double>(kFloor)) >= 300) break;
  }
  const std::int64_t* lab = s.label.data<std::int64_t>();
  const float* dep = s.depth.data<float>();
  const float* nor = s.normal.data<float>();
  // For a plane n . X = -h, with X = z (u', v', 1) / f-scaled: n_x z u'/f + n_y z v'/f + n_z z = -h. Solve for
  // (1/f, h) by least squares over floor pixels, then check the residuals are tiny.
  double a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
  std::vector<std::array<double, 3>> rows;
  for (std::int64_t v = 0; v < H; ++v)
    for (std::int64_t u = 0; u < W; ++u) {
      const std::int64_t p = v * W + u;
      if (lab[p] != kFloor) continue;
      const double z = dep[p], du = static_cast<double>(u) + 0.5 - W / 2.0, dv = static_cast<double>(v) + 0.5 - H / 2.0;
      const double c1 = z * (nor[p * 3] * du + nor[p * 3 + 1] * dv), c2 = 1.0, r = -nor[p * 3 + 2] * z;
      // c1 * (1/f) + c2 * h = r
      a11 += c1 * c1, a12 += c1 * c2, a22 += c2 * c2, b1 += c1 * r, b2 += c2 * r;
      rows.push_back({c1, c2, r});
    }
  ASSERT_GE(rows.size(), 300u) << "no scene of the first 50 shows the floor";
  const double det = a11 * a22 - a12 * a12;
  const double inv_f = (b1 * a22 - b2 * a12) / det, h = (a11 * b2 - a12 * b1) / det;
  EXPECT_GT(1 / inv_f, 0.6 * W);
  EXPECT_LT(1 / inv_f, 1.0 * W);
  EXPECT_GT(h, 1.1);  // the camera is 1.2-1.8 m above the floor
  EXPECT_LT(h, 1.9);
  for (const auto& r : rows) EXPECT_NEAR(r[0] * inv_f + r[1] * h, r[2], 2e-3);
}

class NyuData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(scratch("data"));
    write_synthetic_nyuv2(*dir_, 10, 4, 24, 32, 5, 3);  // train, val, H, W, seed, K
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path* dir_;
};
fs::path* NyuData::dir_ = nullptr;

TEST_F(NyuData, IndexesAndLoadsCHW) {
  const NyuDataset d(*dir_, "train", kAllTasks);
  EXPECT_EQ(d.size(), 10);
  EXPECT_EQ(d.height(), 24);
  EXPECT_EQ(d.width(), 32);
  EXPECT_EQ(d.keypoints(), 3);
  const NyuSample s = d.load(7);
  ASSERT_EQ(s.targets.size(), 4u);
  EXPECT_EQ(s.image.shape(), (Shape{3, 24, 32}));
  EXPECT_EQ(s.targets[0].shape(), (Shape{24, 32}));
  EXPECT_EQ(s.targets[0].dtype(), DType::Int64);
  EXPECT_EQ(s.targets[1].shape(), (Shape{1, 24, 32}));
  EXPECT_EQ(s.targets[2].shape(), (Shape{3, 24, 32}));
  EXPECT_EQ(s.targets[3].shape(), (Shape{3, 24, 32}));
  // CHW of the stored HWC.
  const Tensor img = app::read_npy(*dir_ / "train" / "image" / "7.npy").tensor;
  const Tensor nor = app::read_npy(*dir_ / "train" / "normal" / "7.npy").tensor;
  for (std::int64_t p : {0, 100, 24 * 32 - 1})
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(s.image.data<float>()[c * 24 * 32 + p], img.data<float>()[p * 3 + c]);
      EXPECT_EQ(s.targets[2].data<float>()[c * 24 * 32 + p], nor.data<float>()[p * 3 + c]);
    }
  // Ids in numeric order; a subset of tasks needs only its folders.
  EXPECT_EQ(d.ids().back(), 9);
  EXPECT_EQ(NyuDataset(*dir_, "val", {NyuTask::Depth}).load(0).targets.size(), 1u);
  EXPECT_EQ(parse_task("seg"), NyuTask::Segmentation);
  expect_error([] { (void)parse_task("edges"); }, "edges");
}

TEST_F(NyuData, RefusesInconsistentFiles) {
  const fs::path bad = scratch("bad");
  fs::copy(*dir_, bad, fs::copy_options::recursive);
  // A missing file in one task's folder.
  fs::remove(bad / "val" / "depth" / "2.npy");
  expect_error([&] { NyuDataset(bad, "val", {NyuTask::Depth}); }, (bad / "val" / "depth").string(), "lacks sample 2");
  EXPECT_NO_THROW(NyuDataset(bad, "val", {NyuTask::Normal}));
  // A sample whose depth has another size than its image.
  app::write_npy(bad / "train" / "depth" / "3.npy", Tensor::ones({20, 32, 1}));
  const NyuDataset d(bad, "train", kAllTasks);
  expect_error([&] { (void)d.load(3); }, (bad / "train" / "depth" / "3.npy").string(), "(20, 32, 1)");
  // A normal map of the wrong channel count; a label outside [-1, 13); an image that is not HWC.
  app::write_npy(bad / "train" / "normal" / "4.npy", Tensor::ones({24, 32, 2}));
  expect_error([&] { (void)d.load(4); }, (bad / "train" / "normal" / "4.npy").string(), "expected");
  app::write_npy(bad / "train" / "label" / "5.npy", Tensor::full({24, 32}, 13, DType::Int64));
  expect_error([&] { (void)d.load(5); }, (bad / "train" / "label" / "5.npy").string(), "label 13");
  app::write_npy(bad / "train" / "image" / "0.npy", Tensor::ones({3, 24, 32}));
  expect_error([&] { NyuDataset(bad, "train", kAllTasks); }, (bad / "train" / "image" / "0.npy").string(), "(H, W, 3)");
  expect_error([&] { NyuDataset(bad, "test", kAllTasks); }, (bad / "test" / "image").string());
  fs::remove_all(bad);
}

TEST_F(NyuData, AugmentationKeepsInvariants) {
  const NyuDataset d(*dir_, "train", kAllTasks);
  const NyuSample s = d.load(1);
  const std::int64_t H = 24, W = 32, HW = H * W;
  // Scale 1.5 crop (no flip): depth is the nearest source depth / 1.5; normals unit where labels are valid.
  AugmentParams a{1.5, 3, 5, 16, 21, false};
  const NyuSample t = d.load(1, a);
  for (std::int64_t y = 0; y < H; ++y)
    for (std::int64_t x = 0; x < W; ++x) {
      const std::int64_t sy = 3 + y * 16 / H, sx = 5 + x * 21 / W, p = y * W + x;
      ASSERT_FLOAT_EQ(t.targets[1].data<float>()[p], s.targets[1].data<float>()[sy * W + sx] / 1.5f);
      ASSERT_EQ(t.targets[0].data<std::int64_t>()[p], s.targets[0].data<std::int64_t>()[sy * W + sx]);
      const float* n = t.targets[2].data<float>();
      const double norm = std::sqrt(n[p] * n[p] + n[HW + p] * n[HW + p] + n[2 * HW + p] * n[2 * HW + p]);
      if (t.targets[0].data<std::int64_t>()[p] == -1) {
        ASSERT_EQ(norm, 0.0);
        ASSERT_EQ(t.targets[1].data<float>()[p], 0.0f);
      } else {
        ASSERT_NEAR(norm, 1.0, 1e-5);
      }
    }
  // A flip alone mirrors everything and negates normal x.
  const NyuSample f = d.load(1, AugmentParams{1.0, 0, 0, H, W, true});
  for (std::int64_t y = 0; y < H; ++y)
    for (std::int64_t x = 0; x < W; ++x) {
      const std::int64_t p = y * W + x, q = y * W + (W - 1 - x);
      // (renormalised: equal up to rounding)
      ASSERT_NEAR(f.targets[2].data<float>()[p], -s.targets[2].data<float>()[q], 1e-6);
      ASSERT_NEAR(f.targets[2].data<float>()[HW + p], s.targets[2].data<float>()[HW + q], 1e-6);
      ASSERT_EQ(f.image.data<float>()[2 * HW + p], s.image.data<float>()[2 * HW + q]);
      ASSERT_EQ(f.targets[0].data<std::int64_t>()[p], s.targets[0].data<std::int64_t>()[q]);
      ASSERT_EQ(f.targets[3].data<float>()[2 * HW + p], s.targets[3].data<float>()[2 * HW + q]);
    }
  // The drawn parameters follow LibMTL: scales from {1, 1.2, 1.5}, crops inside the image, both flips.
  std::set<double> scales;
  int flips = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const AugmentParams p = draw_augment(H, W, seed);
    scales.insert(p.scale);
    flips += p.flip;
    EXPECT_EQ(p.crop_h, static_cast<std::int64_t>(H / p.scale));
    EXPECT_LE(p.top + p.crop_h, H);
    EXPECT_LE(p.left + p.crop_w, W);
  }
  EXPECT_EQ(scales, (std::set<double>{1.0, 1.2, 1.5}));
  EXPECT_GT(flips, 60);
  EXPECT_LT(flips, 140);
}

// Stacks the loads of `positions` (augmented as the loader does) into what a batch should be.
void expect_batch_is(const app::Batch& b, const NyuDataset& d, const NyuLoader& loader, std::int64_t epoch,
                     const std::vector<std::int64_t>& positions) {
  ASSERT_EQ(b.x.shape()[0], static_cast<std::int64_t>(positions.size()));
  for (std::size_t r = 0; r < positions.size(); ++r) {
    const NyuSample s = d.load(positions[r], loader.augment_params(epoch, positions[r]));
    const auto row = static_cast<std::int64_t>(r);
    EXPECT_TRUE(same_bytes(b.x.slice(row, row + 1).reshape(s.image.shape()).clone(), s.image)) << "row " << r;
    for (std::size_t i = 0; i < s.targets.size(); ++i)
      EXPECT_TRUE(same_bytes(b.targets[i].slice(row, row + 1).reshape(s.targets[i].shape()).clone(), s.targets[i]))
          << "row " << r << " task " << i;
  }
}

TEST_F(NyuData, LoaderBatchesEqualDirectLoads) {
  auto d = std::make_shared<NyuDataset>(*dir_, "train", kAllTasks);
  for (bool augment : {false, true}) {
    LoaderOptions o;
    o.batch = 3;
    o.seed = 9;
    o.augment = augment;
    o.threads = 2;
    NyuLoader loader(d, o);
    EXPECT_EQ(loader.batches_per_epoch(), 3);  // 10 samples: the tail of 1 is skipped
    for (std::int64_t e = 1; e <= 2; ++e) {
      const std::vector<std::int64_t> order = loader.epoch_order(e);
      for (std::int64_t j = 0; j < 3; ++j) {
        const app::Batch b = loader.next();
        EXPECT_EQ(loader.epoch(), e);
        EXPECT_EQ(b.targets.size(), 4u);
        expect_batch_is(b, *d, loader, e, {order.begin() + j * 3, order.begin() + j * 3 + 3});
      }
    }
    // The order: a permutation per epoch, the same for the same seed, another for another epoch or seed.
    std::vector<std::int64_t> o1 = loader.epoch_order(1), o2 = loader.epoch_order(2);
    EXPECT_NE(o1, o2);
    std::ranges::sort(o1);
    EXPECT_EQ(o1, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(NyuLoader(d, o).epoch_order(2), loader.epoch_order(2));
    o.seed = 10;
    EXPECT_NE(NyuLoader(d, o).epoch_order(1), loader.epoch_order(1));
  }
  // In order, with the remainder: one full pass for evaluation; load_all is the same set.
  LoaderOptions eval;
  eval.batch = 4;
  eval.shuffle = false;
  eval.drop_last = false;
  NyuLoader in_order(d, eval);
  EXPECT_EQ(in_order.batches_per_epoch(), 3);
  expect_batch_is(in_order.next(), *d, in_order, 1, {0, 1, 2, 3});
  expect_batch_is(in_order.next(), *d, in_order, 1, {4, 5, 6, 7});
  expect_batch_is(in_order.next(), *d, in_order, 1, {8, 9});
  const app::Dataset all = load_all(*d);
  EXPECT_EQ(all.size(), 10);
  expect_batch_is(app::Batch{all.x, all.targets}, *d, in_order, 1, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

// Data parallel: rank r's loader reads only its rows of each global batch (app::shard_range), and the ranks'
// rows, in rank order, are the whole loader's batch (batch 5 over 3 ranks: 2, 2, 1 rows).
TEST_F(NyuData, ShardedLoadersTogetherGiveTheWholeBatch) {
  auto d = std::make_shared<NyuDataset>(*dir_, "train", kAllTasks);
  LoaderOptions o;
  o.batch = 5;
  o.seed = 4;
  o.augment = true;
  NyuLoader whole(d, o);
  std::vector<std::unique_ptr<NyuLoader>> ranks;
  for (int r = 0; r < 3; ++r) {
    LoaderOptions ro = o;
    ro.rank = r;
    ro.world = 3;
    ranks.push_back(std::make_unique<NyuLoader>(d, ro));
    EXPECT_EQ(ranks.back()->shard(), (std::pair<int, int>{r, 3}));
    EXPECT_EQ(ranks.back()->batch_size(), 5) << "batch_size() stays the global batch";
  }
  EXPECT_EQ(whole.shard(), (std::pair<int, int>{0, 1}));
  for (std::int64_t e = 1; e <= 2; ++e) {
    const std::vector<std::int64_t> order = whole.epoch_order(e);
    for (std::int64_t j = 0; j < whole.batches_per_epoch(); ++j) {
      const app::Batch all = whole.next();
      std::int64_t row = 0;
      for (int r = 0; r < 3; ++r) {
        const app::Batch part = ranks[static_cast<std::size_t>(r)]->next();
        const auto [begin, end] = app::shard_range(5, r, 3);
        ASSERT_EQ(part.x.shape()[0], end - begin);
        EXPECT_EQ(begin, row);
        expect_batch_is(part, *d, *ranks[static_cast<std::size_t>(r)], e,
                        {order.begin() + j * 5 + begin, order.begin() + j * 5 + end});
        EXPECT_TRUE(same_bytes(part.x, all.x.slice(begin, end).clone())) << "epoch " << e << " batch " << j;
        row = end;
      }
      EXPECT_EQ(row, 5);
    }
  }
  LoaderOptions bad = o;
  bad.world = 6;  // more ranks than rows
  bad.rank = 0;
  try {
    NyuLoader refused(d, bad);
    ADD_FAILURE() << "a batch of 5 over 6 ranks was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch >= ranks"), std::string::npos) << e.what();
  }
}

TEST_F(NyuData, LoaderResumesFromItsState) {
  auto d = std::make_shared<NyuDataset>(*dir_, "train", std::vector<NyuTask>{NyuTask::Depth});
  LoaderOptions o;
  o.batch = 4;
  o.seed = 3;
  o.augment = true;
  NyuLoader a(d, o), b(d, o);
  for (int k = 0; k < 3; ++k) (void)a.next();  // into epoch 2
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.epoch(), 2);
  for (int k = 0; k < 3; ++k) {
    const app::Batch x = a.next(), y = b.next();
    EXPECT_TRUE(same_bytes(x.x, y.x) && same_bytes(x.targets[0], y.targets[0])) << "batch " << k;
  }
  o.seed = 4;
  NyuLoader c(d, o);
  expect_error([&] { c.load_state_dict(a.state_dict()); }, "seed 3");
}

// A file that breaks after indexing: the thread's error reaches next() with the file's name, again on the
// next call; destroying a loader whose thread waits on a full queue (or failed) returns.
TEST_F(NyuData, PrefetchErrorsReachTheCaller) {
  const fs::path bad = scratch("prefetch");
  fs::copy(*dir_, bad, fs::copy_options::recursive);
  auto d = std::make_shared<NyuDataset>(bad, "val", kAllTasks);
  {
    std::ofstream(bad / "val" / "image" / "2.npy", std::ios::binary) << "\x93NUMPY\x01";  // truncated
  }
  LoaderOptions o;
  o.batch = 1;
  o.shuffle = false;
  NyuLoader loader(d, o);
  (void)loader.next();
  (void)loader.next();
  const std::string name = (bad / "val" / "image" / "2.npy").string();
  expect_error([&] { (void)loader.next(); }, name, "not a .npy file");
  expect_error([&] { (void)loader.next(); }, name);
  { NyuLoader idle(d, o); }  // its thread is blocked on the full queue
  fs::remove_all(bad);
}

}  // namespace
}  // namespace gn::nyuv2
