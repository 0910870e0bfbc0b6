#include "apps/nyuv2/dataset.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "apps/common/npy.h"
#include "core/error.h"

namespace gn::nyuv2 {

namespace fs = std::filesystem;

std::string_view task_folder(NyuTask t) {
  switch (t) {
    case NyuTask::Segmentation:
      return "label";
    case NyuTask::Depth:
      return "depth";
    case NyuTask::Normal:
      return "normal";
    case NyuTask::Keypoint:
      return "keypoint";
  }
  return "?";
}

std::string_view task_name(NyuTask t) { return t == NyuTask::Segmentation ? "segmentation" : task_folder(t); }

NyuTask parse_task(std::string_view name) {
  if (name == "segmentation" || name == "seg" || name == "semantic" || name == "label") return NyuTask::Segmentation;
  if (name == "depth") return NyuTask::Depth;
  if (name == "normal" || name == "normals") return NyuTask::Normal;
  if (name == "keypoint" || name == "keypoints") return NyuTask::Keypoint;
  GN_FAIL("unknown NYUv2 task '{}' (expected segmentation, depth, normal or keypoint)", name);
}

namespace {

// The sorted ids of the {i}.npy files in `folder`; other files are ignored.
std::vector<std::int64_t> list_ids(const fs::path& folder) {
  std::error_code ec;
  GN_CHECK(fs::is_directory(folder, ec),
           "NYUv2 data: {} is not a directory (expected the per-sample layout "
           "DIR/SPLIT/{{image,label,depth,normal}}/{{i}}.npy)",
           folder.string());
  std::vector<std::int64_t> ids;
  fs::directory_iterator it(folder, ec);
  if (ec) GN_FAIL("NYUv2 data: cannot list {}: {}", folder.string(), ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) GN_FAIL("NYUv2 data: cannot list {}: {}", folder.string(), ec.message());
    const fs::path& p = it->path();
    if (p.extension() != ".npy") continue;
    const std::string stem = p.stem().string();
    std::int64_t id = 0;
    const auto [end, err] = std::from_chars(stem.data(), stem.data() + stem.size(), id);
    if (err != std::errc() || end != stem.data() + stem.size() || id < 0) continue;
    ids.push_back(id);
  }
  std::ranges::sort(ids);
  return ids;
}

// Returns x as (C, H, W) from a stored HWC array of `channels` channels; (H, W) is accepted when channels = 1.
Tensor hwc_to_chw(const Tensor& x, std::int64_t channels) {
  const std::int64_t H = x.shape()[0], W = x.shape()[1];
  Tensor out = Tensor::empty({channels, H, W}, x.dtype());
  const float* s = x.data<float>();
  float* d = out.data<float>();
  for (std::int64_t p = 0; p < H * W; ++p)
    for (std::int64_t c = 0; c < channels; ++c) d[c * H * W + p] = s[p * channels + c];
  return out;
}

std::string expect_text(const Shape& a, const Shape& b) { return to_string(a) + " or " + to_string(b); }

}  // namespace

NyuDataset::NyuDataset(fs::path dir, std::string split, std::vector<NyuTask> tasks, std::int64_t num_classes)
    : root_(std::move(dir) / split), tasks_(std::move(tasks)), num_classes_(num_classes) {
  GN_CHECK(num_classes >= 1, "NYUv2 data: num_classes must be >= 1, got {}", num_classes);
  std::set<NyuTask> seen;
  for (NyuTask t : tasks_) GN_CHECK(seen.insert(t).second, "NYUv2 data: the task {} is listed twice", task_name(t));
  ids_ = list_ids(root_ / "image");
  GN_CHECK(!ids_.empty(), "NYUv2 data: {} holds no {{i}}.npy files", (root_ / "image").string());
  for (NyuTask t : tasks_) {
    const fs::path folder = root_ / task_folder(t);
    const std::vector<std::int64_t> other = list_ids(folder);
    if (other != ids_) {
      std::vector<std::int64_t> missing, extra;
      std::ranges::set_difference(ids_, other, std::back_inserter(missing));
      std::ranges::set_difference(other, ids_, std::back_inserter(extra));
      if (!missing.empty())
        GN_FAIL("NYUv2 data: {} lacks sample {} ({}.npy), which image/ has ({} of {} samples missing)", folder.string(),
                missing[0], missing[0], missing.size(), ids_.size());
      GN_FAIL("NYUv2 data: {} has sample {} ({}.npy), which image/ lacks ({} extra)", folder.string(), extra[0],
              extra[0], extra.size());
    }
  }
  // The first sample fixes the sizes.
  const app::NpyHeader img = app::read_npy_header(file(0, "image"));
  GN_CHECK(img.shape.size() == 3 && img.shape[2] == 3 && img.shape[0] >= 1 && img.shape[1] >= 1,
           "NYUv2 data: {} has shape {}; images must be (H, W, 3)", file(0, "image").string(), to_string(img.shape));
  height_ = img.shape[0];
  width_ = img.shape[1];
  for (NyuTask t : tasks_) {
    if (t != NyuTask::Keypoint) continue;
    const app::NpyHeader kp = app::read_npy_header(file(0, "keypoint"));
    GN_CHECK(kp.shape.size() == 3 && kp.shape[0] >= 1,
             "NYUv2 data: {} has shape {}; keypoint heatmaps must be (K, H, W)", file(0, "keypoint").string(),
             to_string(kp.shape));
    keypoints_ = kp.shape[0];
  }
}

fs::path NyuDataset::file(std::int64_t k, std::string_view folder) const {
  return root_ / folder / (std::to_string(ids_[static_cast<std::size_t>(k)]) + ".npy");
}

NyuSample NyuDataset::load(std::int64_t k) const {
  GN_CHECK(k >= 0 && k < size(), "NYUv2 data: sample {} out of range [0, {})", k, size());
  const std::int64_t H = height_, W = width_;
  auto read = [&](std::string_view folder, DType as, const Shape& want, const Shape& also) {
    const fs::path path = file(k, folder);
    app::NpyArray a = app::read_npy(path, as);
    GN_CHECK(a.header.shape == want || (!also.empty() && a.header.shape == also),
             "NYUv2 data: {} has shape {}, expected {} (the sizes of sample {} in {})", path.string(),
             to_string(a.header.shape), also.empty() ? to_string(want) : expect_text(want, also), ids_[0],
             root_.string());
    return a;
  };
  NyuSample s;
  app::NpyArray img = read("image", DType::Float32, {H, W, 3}, {});
  if (img.header.type == app::NpyType::UInt8) {
    float* p = img.tensor.data<float>();
    for (std::int64_t i = 0; i < img.tensor.numel(); ++i) p[i] /= 255.0f;
  }
  s.image = hwc_to_chw(img.tensor, 3);
  for (NyuTask t : tasks_) {
    switch (t) {
      case NyuTask::Segmentation: {
        const app::NpyArray a = read("label", DType::Int64, {H, W}, {H, W, 1});
        const std::int64_t* l = a.tensor.data<std::int64_t>();
        for (std::int64_t i = 0; i < H * W; ++i)
          GN_CHECK(l[i] >= -1 && l[i] < num_classes_,
                   "NYUv2 data: {} holds label {} at pixel ({}, {}); labels must be in [-1, {}) (-1 = ignored)",
                   file(k, "label").string(), l[i], i / W, i % W, num_classes_);
        s.targets.push_back(a.tensor.reshape({H, W}));
        break;
      }
      case NyuTask::Depth: {
        const app::NpyArray a = read("depth", DType::Float32, {H, W, 1}, {H, W});
        s.targets.push_back(a.tensor.reshape({1, H, W}));
        break;
      }
      case NyuTask::Normal:
        s.targets.push_back(hwc_to_chw(read("normal", DType::Float32, {H, W, 3}, {}).tensor, 3));
        break;
      case NyuTask::Keypoint:
        s.targets.push_back(read("keypoint", DType::Float32, {keypoints_, H, W}, {}).tensor);
        break;
    }
  }
  return s;
}

NyuSample NyuDataset::load(std::int64_t k, const AugmentParams& aug) const {
  NyuSample s = load(k);
  if (aug.identity()) return s;
  s.image = augment_bilinear(s.image, aug);
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    Tensor& t = s.targets[i];
    switch (tasks_[i]) {
      case NyuTask::Segmentation:
        t = augment_nearest(t, aug);
        break;
      case NyuTask::Depth: {
        t = augment_nearest(t, aug);
        float* d = t.data<float>();
        for (std::int64_t p = 0; p < t.numel(); ++p) d[p] = static_cast<float>(d[p] / aug.scale);
        break;
      }
      case NyuTask::Normal:
        t = augment_normals(t, aug);
        break;
      case NyuTask::Keypoint:
        t = augment_bilinear(t, aug);
        break;
    }
  }
  return s;
}

}  // namespace gn::nyuv2
