#pragma once
// A small convolutional multitask model with the paper's NYUv2 tasks (depth, segmentation, surface
// normals) and a batch of image-shaped targets in the NYUv2 conventions: depth 0 = invalid, label -1 =
// ignored, all-zero normal = invalid. The last shared layer W is a stride-2 Conv2d, so the predictions
// come out at half the targets' resolution and every loss applies the resolution rule
// (docs/dense-tasks.md). Used by the dense oracle tests, their CUDA twin and bench_dense_step.
#include <cmath>
#include <memory>
#include <vector>

#include "core/rng.h"
#include "model_fixture.h"  // TinyBatch
#include "multitask/model.h"
#include "multitask/task.h"
#include "nn/activation.h"
#include "nn/batch_norm.h"
#include "nn/conv.h"
#include "nn/sequential.h"

namespace gn::testing_support {

struct DenseProblem {
  std::int64_t batch = 2, in_channels = 2, height = 8, width = 6;  // input (and target) size
  std::int64_t trunk_channels = 3, shared_channels = 4, classes = 4;
  int trunk_layers = 1;            // 3x3 convs (+ tanh) before W
  std::int64_t head_channels = 0;  // > 0: each head is ReLU, 3x3 conv to this many channels, ReLU, 1x1 conv
  bool batch_norm = false;         // a BatchNorm2d after every trunk conv and after each head's 3x3 conv
  DType dtype = DType::Float64;
  Device device = cpu_device();
};

// Trunk: trunk_layers x (conv 3x3 + tanh); W: conv 3x3, stride 2 (z at half resolution); heads: ReLU
// (+ 3x3 conv + ReLU when head_channels > 0) + 1x1 conv to 1 (depth), `classes` (segmentation logits)
// and 3 (normals) channels. Same seed -> same network.
inline std::shared_ptr<multitask::MultitaskModel> dense_model(const DenseProblem& p, std::uint64_t seed) {
  Generator gen(seed);
  auto trunk = std::make_shared<nn::Sequential>();
  for (int l = 0; l < p.trunk_layers; ++l) {
    trunk->push_back(std::make_shared<nn::Conv2d>(l == 0 ? p.in_channels : p.trunk_channels, p.trunk_channels, 3, gen,
                                                  nn::Conv2dOptions{.padding = 1}, p.dtype, p.device));
    if (p.batch_norm)
      trunk->push_back(std::make_shared<nn::BatchNorm2d>(p.trunk_channels, 1e-5, 0.1, true, p.dtype, p.device));
    trunk->push_back(std::make_shared<nn::Tanh>());
  }
  auto shared = std::make_shared<nn::Conv2d>(p.trunk_channels, p.shared_channels, 3, gen,
                                             nn::Conv2dOptions{.stride = 2, .padding = 1}, p.dtype, p.device);
  const std::int64_t outs[] = {1, p.classes, 3};
  const multitask::TaskLoss losses[] = {multitask::TaskLoss::depth_l2(), multitask::TaskLoss::segmentation(p.classes),
                                        multitask::TaskLoss::normals()};
  const char* names[] = {"depth", "seg", "normal"};
  std::vector<multitask::Task> tasks;
  for (int i = 0; i < 3; ++i) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::ReLU>());
    std::int64_t channels = p.shared_channels;
    if (p.head_channels > 0) {
      head->push_back(std::make_shared<nn::Conv2d>(channels, p.head_channels, 3, gen, nn::Conv2dOptions{.padding = 1},
                                                   p.dtype, p.device));
      if (p.batch_norm)
        head->push_back(std::make_shared<nn::BatchNorm2d>(p.head_channels, 1e-5, 0.1, true, p.dtype, p.device));
      head->push_back(std::make_shared<nn::ReLU>());
      channels = p.head_channels;
    }
    head->push_back(std::make_shared<nn::Conv2d>(channels, outs[i], 1, gen, nn::Conv2dOptions{}, p.dtype, p.device));
    tasks.push_back({names[i], head, losses[i], {}});
  }
  return std::make_shared<multitask::MultitaskModel>(trunk, shared, std::move(tasks));
}

// x (B, C_in, H, W) and y = {depth (B, 1, H, W), labels int64 (B, H, W), normals (B, 3, H, W)}.
// Inputs N(0, 1); about a fifth of the depth pixels 0 (invalid), a fifth of the labels -1, a fifth of the
// normals all-zero; valid depths in [0.5, 5] m, valid normals unit vectors.
inline TinyBatch dense_batch(const DenseProblem& p, std::uint64_t seed) {
  Generator gen(seed);
  const std::int64_t B = p.batch, H = p.height, W = p.width, pixels = B * H * W;
  TinyBatch b;
  b.x = Tensor::randn({B, p.in_channels, H, W}, gen, 0, 1, p.dtype, p.device);
  auto invalid = [&] { return gen.next_u64() % 5 == 0; };
  auto uniform01 = [&] { return static_cast<double>(gen.next_u64() >> 11) * 0x1.0p-53; };
  std::vector<double> depth(pixels), normals(3 * pixels);
  std::vector<std::int64_t> labels(pixels);
  for (std::int64_t i = 0; i < pixels; ++i) {
    depth[i] = invalid() ? 0.0 : 0.5 + 4.5 * uniform01();
    labels[i] = invalid() ? -1 : static_cast<std::int64_t>(gen.next_u64() % p.classes);
  }
  for (std::int64_t n = 0; n < B; ++n)
    for (std::int64_t s = 0; s < H * W; ++s) {
      double v[3] = {uniform01() - 0.5, uniform01() - 0.5, uniform01() + 0.1};
      const double norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      const bool valid = !invalid();
      for (int c = 0; c < 3; ++c) normals[(n * 3 + c) * H * W + s] = valid ? v[c] / norm : 0.0;
    }
  b.y.push_back(Tensor::from_vector(depth, {B, 1, H, W}, p.dtype, p.device));
  b.y.push_back(Tensor::from_labels(labels, {B, H, W}, p.device));
  b.y.push_back(Tensor::from_vector(normals, {B, 3, H, W}, p.dtype, p.device));
  return b;
}

}  // namespace gn::testing_support
