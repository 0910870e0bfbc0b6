#pragma once
// The NYUv2 data set in the preprocessed per-sample layout (MTAN, LibMTL; README.md "Data"):
//   DIR/{train,val}/image/{i}.npy     (H, W, 3) float in [0, 1] (uint8 is divided by 255)
//   DIR/{train,val}/label/{i}.npy     (H, W) or (H, W, 1), integers -1..C-1 (-1 ignored), any accepted dtype
//   DIR/{train,val}/depth/{i}.npy     (H, W, 1) or (H, W) metres, 0 = invalid
//   DIR/{train,val}/normal/{i}.npy    (H, W, 3) unit vectors, all zero = invalid
//   DIR/{train,val}/keypoint/{i}.npy  (K, H, W) heatmaps (this project's extension; the GradNorm paper's
//                                     keypoint set is not public)
// Samples are loaded from disk one at a time (the set need not fit in memory), as CHW tensors, with
// LibMTL's optional augmentation (augment.h).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "apps/nyuv2/augment.h"
#include "core/tensor.h"

namespace gn::nyuv2 {

enum class NyuTask : std::uint8_t { Segmentation, Depth, Normal, Keypoint };
std::string_view task_folder(NyuTask t);  // "label", "depth", "normal", "keypoint"
std::string_view task_name(NyuTask t);    // "segmentation", "depth", "normal", "keypoint"
// "segmentation" (or "seg", "semantic", "label"), "depth", "normal" (or "normals"), "keypoint" (or
// "keypoints"); throws naming the text otherwise.
NyuTask parse_task(std::string_view name);

// One sample, CHW.
struct NyuSample {
  Tensor image;                 // (3, H, W) float32
  std::vector<Tensor> targets;  // per task, in the data set's task order: label (H, W) int64, depth (1, H, W),
                                // normal (3, H, W), keypoint (K, H, W) float32
};

class NyuDataset {
 public:
  // Indexes DIR/SPLIT: the ids are the integer names {i}.npy in image/, sorted numerically; every task's
  // folder must hold exactly the same ids (else a gn::Error naming the folder and an id missing or extra).
  // Reads the headers of the first sample to fix H, W (and K); every file loaded later must agree, or the
  // error names the file, its shape and the expected one. Labels must lie in [-1, num_classes).
  NyuDataset(std::filesystem::path dir, std::string split, std::vector<NyuTask> tasks, std::int64_t num_classes = 13);

  std::int64_t size() const { return static_cast<std::int64_t>(ids_.size()); }
  const std::vector<NyuTask>& tasks() const { return tasks_; }
  const std::vector<std::int64_t>& ids() const { return ids_; }
  std::int64_t height() const { return height_; }
  std::int64_t width() const { return width_; }
  std::int64_t keypoints() const { return keypoints_; }  // K (0 without a keypoint task)
  std::int64_t num_classes() const { return num_classes_; }
  const std::filesystem::path& root() const { return root_; }  // DIR/SPLIT
  // The file of sample k (position in ids()) for a folder ("image", "label", ...).
  std::filesystem::path file(std::int64_t k, std::string_view folder) const;

  // Sample k (position in ids(), not the file's id), read from disk; with `aug`, augmented by it.
  // Thread-safe (it only reads).
  NyuSample load(std::int64_t k) const;
  NyuSample load(std::int64_t k, const AugmentParams& aug) const;

 private:
  std::filesystem::path root_;
  std::vector<NyuTask> tasks_;
  std::vector<std::int64_t> ids_;
  std::int64_t num_classes_;
  std::int64_t height_ = 0, width_ = 0, keypoints_ = 0;
};

}  // namespace gn::nyuv2
