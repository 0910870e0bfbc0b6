// The GradNorm paper's thin ResNet-50 FCN (Section 5.1). The paper says only: a modified ResNet-50 encoder
// and a shallow ResNet decoder, "stride-2 layers moved earlier", "all 2048-filter layers replaced by 1024",
// all upsampling learned, ~15M parameters. Choices made here (apps/nyuv2/README.md, "Models"):
//
//   stem    conv7x7/2 (3 -> 64) + BN + ReLU, max-pool 3x3/2                          stride 4   (s4)
//   layer1  3 bottlenecks  64 -> 256, first block stride 2 (standard ResNet: 1)     stride 8   (s8)
//   layer2  4 bottlenecks 128 -> 512, stride 2                                     stride 16  (s16)
//   layer3  6 bottlenecks 256 -> 1024, stride 2                                    stride 32
//   layer4  3 bottlenecks 256 -> 1024 (standard: 512 -> 2048), stride 1 (standard: 2): its stride-2 moved
//           to layer1, so layers 1-3 run at half the standard resolution (thinner activations)
//   decoder reduce conv1x1 1024 -> 256 + BN + ReLU, then three learned 2x upsamplings, FCN-style with skips:
//           up(x) = ConvTranspose2d(k4, s2, p1)(x) cropped to the skip's size + conv1x1(skip), BN, ReLU
//           up1 256 -> 128 (+ layer2) + BasicBlock(128); up2 128 -> 64 (+ layer1) + BasicBlock(64);
//           up3 64 -> 64 (+ stem)                                                    stride 4 = h
//   W       conv3x3 64 -> 64 (the decoder's last conv); heads BN + ReLU + conv1x1 64 -> C (with bias)
// Bottlenecks are torchvision's (v1.5: the stride on the 3x3 conv), every stage's first block has a
// projection shortcut (conv1x1 + BN; layer4's is 1024 -> 1024, the 2048 of ResNet-50 replaced by 1024).
// Convs followed by BN have no bias. 320x320 in -> 80x80 out; any H, W: out = ceil(ceil(H / 2) / 2), as the
// stem gives it (the crops make every odd size line up).
#include <array>
#include <optional>
#include <vector>

#include "apps/nyuv2/models.h"
#include "core/error.h"
#include "core/ops.h"
#include "nn/activation.h"
#include "nn/batch_norm.h"
#include "nn/conv.h"
#include "nn/sequential.h"

namespace gn::nyuv2::detail {

namespace {

struct Stage {
  int blocks;
  std::int64_t mid, out;
  int stride;
};
// Full width.
constexpr std::array<Stage, 4> kStages = {Stage{3, 64, 256, 2}, Stage{4, 128, 512, 2}, Stage{6, 256, 1024, 2},
                                          Stage{3, 256, 1024, 1}};
constexpr std::int64_t kStem = 64, kReduce = 256;
constexpr std::array<std::int64_t, 3> kUp = {128, 64, 64};  // up1, up2, up3 output channels

struct Width {
  double mult;
  std::int64_t operator()(std::int64_t c) const { return scaled_channels(c, mult); }
};

struct Layers {
  const ModelSpec& spec;
  Generator& gen;
  std::shared_ptr<nn::Conv2d> conv(std::int64_t in, std::int64_t out, std::int64_t k, int stride = 1) {
    return std::make_shared<nn::Conv2d>(
        in, out, k, gen, nn::Conv2dOptions{.stride = stride, .padding = k / 2, .bias = false}, spec.dtype, spec.device);
  }
  std::shared_ptr<nn::BatchNorm2d> bn(std::int64_t c) {
    return std::make_shared<nn::BatchNorm2d>(c, 1e-5, 0.1, true, spec.dtype, spec.device);
  }
};

// x (B, C_in, H, W) -> relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x)))))) + shortcut(x)),
// (B, C_out, ceil(H / stride), ceil(W / stride)); shortcut = BN(conv1x1/stride) when there is a projection.
class Bottleneck : public nn::Module {
 public:
  Bottleneck(Layers& l, std::int64_t in, std::int64_t mid, std::int64_t out, int stride, bool projection) {
    conv1_ = register_module("conv1", l.conv(in, mid, 1));
    bn1_ = register_module("bn1", l.bn(mid));
    conv2_ = register_module("conv2", l.conv(mid, mid, 3, stride));
    bn2_ = register_module("bn2", l.bn(mid));
    conv3_ = register_module("conv3", l.conv(mid, out, 1));
    bn3_ = register_module("bn3", l.bn(out));
    GN_CHECK(projection || (stride == 1 && in == out), "Bottleneck: an identity shortcut needs stride 1, C_in = C_out");
    if (projection) {
      proj_ = register_module("proj", l.conv(in, out, 1, stride));
      proj_bn_ = register_module("proj_bn", l.bn(out));
    }
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = relu(bn1_->forward(conv1_->forward(x)));
    y = relu(bn2_->forward(conv2_->forward(y)));
    y = bn3_->forward(conv3_->forward(y));
    return relu(add(y, proj_ ? proj_bn_->forward(proj_->forward(x)) : x));
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_, conv3_, proj_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_, bn3_, proj_bn_;
};

// x (B, C, H, W) -> relu(bn2(conv3x3(relu(bn1(conv3x3 x)))) + x), same shape.
class BasicBlock : public nn::Module {
 public:
  BasicBlock(Layers& l, std::int64_t c) {
    conv1_ = register_module("conv1", l.conv(c, c, 3));
    bn1_ = register_module("bn1", l.bn(c));
    conv2_ = register_module("conv2", l.conv(c, c, 3));
    bn2_ = register_module("bn2", l.bn(c));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = relu(bn1_->forward(conv1_->forward(x)));
    return relu(add(bn2_->forward(conv2_->forward(y)), x));
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
};

// Keeps the top-left (h, w) of x (B, C, H >= h, W >= w), as FCN's crop layer (a copy; differentiable).
Tensor crop(const Tensor& x, std::int64_t h, std::int64_t w) {
  Tensor y = x;
  if (y.size(2) > h) y = split(y, std::array<std::int64_t, 2>{h, y.size(2) - h}, 2)[0];
  if (y.size(3) > w) y = split(y, std::array<std::int64_t, 2>{w, y.size(3) - w}, 3)[0];
  return y;
}

// One learned 2x upsampling with an FCN skip: (x (B, C_in, h, w), skip (B, C_skip, H <= 2h, W <= 2w)) ->
// relu(bn(crop(convT(x)) + conv1x1(skip))), then a BasicBlock when it has one: (B, C_out, H, W).
class UpStage : public nn::Module {
 public:
  UpStage(Layers& l, std::int64_t in, std::int64_t skip, std::int64_t out, bool block) {
    up_ = register_module(
        "up", std::make_shared<nn::ConvTranspose2d>(
                  in, out, 4, l.gen, nn::ConvTranspose2dOptions{.stride = 2, .padding = 1, .bias = false}, l.spec.dtype,
                  l.spec.device));
    skip_ = register_module("skip", l.conv(skip, out, 1));
    bn_ = register_module("bn", l.bn(out));
    if (block) block_ = register_module("block", std::make_shared<BasicBlock>(l, out));
  }
  Tensor forward(const Tensor&) override { throw Error("UpStage: call fuse(x, skip), it needs the skip input"); }
  Tensor fuse(const Tensor& x, const Tensor& skip) {
    Tensor y = crop(up_->forward(x), skip.size(2), skip.size(3));
    y = relu(bn_->forward(add(y, skip_->forward(skip))));
    return block_ ? block_->forward(y) : y;
  }

 private:
  std::shared_ptr<nn::ConvTranspose2d> up_;
  std::shared_ptr<nn::Conv2d> skip_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::shared_ptr<BasicBlock> block_;
};

class ResNetFcnTrunk : public nn::Module {
 public:
  ResNetFcnTrunk(Layers& l, Width wd) {
    auto stem = std::make_shared<nn::Sequential>();
    stem->push_back(std::make_shared<nn::Conv2d>(3, wd(kStem), 7, l.gen,
                                                 nn::Conv2dOptions{.stride = 2, .padding = 3, .bias = false},
                                                 l.spec.dtype, l.spec.device));
    stem->push_back(l.bn(wd(kStem)));
    stem->push_back(std::make_shared<nn::ReLU>());
    stem_ = register_module("stem", stem);
    std::int64_t in = wd(kStem);
    for (std::size_t s = 0; s < kStages.size(); ++s) {
      auto layer = std::make_shared<nn::Sequential>();
      const Stage& st = kStages[s];
      for (int b = 0; b < st.blocks; ++b) {
        layer->push_back(std::make_shared<Bottleneck>(l, in, wd(st.mid), wd(st.out), b == 0 ? st.stride : 1, b == 0));
        in = wd(st.out);
      }
      layers_[s] = register_module("layer" + std::to_string(s + 1), layer);
    }
    auto reduce = std::make_shared<nn::Sequential>();
    reduce->push_back(l.conv(in, wd(kReduce), 1));
    reduce->push_back(l.bn(wd(kReduce)));
    reduce->push_back(std::make_shared<nn::ReLU>());
    reduce_ = register_module("reduce", reduce);
    // Skips, in order: layer2 (s16), layer1 (s8), the pooled stem (s4).
    const std::array<std::int64_t, 3> skips = {wd(kStages[1].out), wd(kStages[0].out), wd(kStem)};
    in = wd(kReduce);
    for (std::size_t u = 0; u < 3; ++u) {
      up_[u] =
          register_module("up" + std::to_string(u + 1), std::make_shared<UpStage>(l, in, skips[u], wd(kUp[u]), u < 2));
      in = wd(kUp[u]);
    }
  }

  // x: (B, 3, H, W) -> h: (B, C_h, ceil(ceil(H / 2) / 2), ceil(ceil(W / 2) / 2)).
  Tensor forward(const Tensor& x) override {
    GN_CHECK(x.dim() == 4, "ResNet FCN: input must be (B, C, H, W), got {}", gn::to_string(x.shape()));
    const Tensor s4 = max_pool2d(stem_->forward(x), 3, 2, 1);
    const Tensor s8 = layers_[0]->forward(s4);
    const Tensor s16 = layers_[1]->forward(s8);
    Tensor y = reduce_->forward(layers_[3]->forward(layers_[2]->forward(s16)));
    y = up_[0]->fuse(y, s16);
    y = up_[1]->fuse(y, s8);
    return up_[2]->fuse(y, s4);
  }

 private:
  std::shared_ptr<nn::Sequential> stem_, reduce_;
  std::array<std::shared_ptr<nn::Sequential>, 4> layers_;
  std::array<std::shared_ptr<UpStage>, 3> up_;
};

// ---- counting, from the same tables ----
std::int64_t conv_p(std::int64_t in, std::int64_t out, std::int64_t k) { return in * out * k * k; }
std::int64_t bn_p(std::int64_t c) { return 2 * c; }

}  // namespace

Body make_resnet_fcn_body(const ModelSpec& spec, Generator& gen) {
  GN_CHECK(resolved_output_stride(spec) == 4, "ResNet FCN: output_stride must be 4");
  Layers l{spec, gen};
  const Width wd{spec.width_mult};
  Body body;
  body.trunk = std::make_shared<ResNetFcnTrunk>(l, wd);
  body.shared = l.conv(wd(kUp[2]), wd(kUp[2]), 3);
  body.z_channels = wd(kUp[2]);
  body.head_kernel = 1;
  return body;
}

BodyCount count_resnet_fcn_body(const ModelSpec& spec) {
  GN_CHECK(resolved_output_stride(spec) == 4, "ResNet FCN: output_stride must be 4");
  const Width wd{spec.width_mult};
  BodyCount c;
  std::int64_t in = wd(kStem);
  c.trunk += conv_p(3, in, 7) + bn_p(in);
  for (const Stage& st : kStages) {
    const std::int64_t mid = wd(st.mid), out = wd(st.out);
    for (int b = 0; b < st.blocks; ++b) {
      c.trunk += conv_p(in, mid, 1) + conv_p(mid, mid, 3) + conv_p(mid, out, 1) + 2 * bn_p(mid) + bn_p(out);
      if (b == 0) c.trunk += conv_p(in, out, 1) + bn_p(out);
      in = out;
    }
  }
  c.trunk += conv_p(in, wd(kReduce), 1) + bn_p(wd(kReduce));
  in = wd(kReduce);
  const std::array<std::int64_t, 3> skips = {wd(kStages[1].out), wd(kStages[0].out), wd(kStem)};
  for (std::size_t u = 0; u < 3; ++u) {
    const std::int64_t out = wd(kUp[u]);
    c.trunk += conv_p(in, out, 4) + conv_p(skips[u], out, 1) + bn_p(out);
    if (u < 2) c.trunk += 2 * (conv_p(out, out, 3) + bn_p(out));
    in = out;
  }
  c.shared = conv_p(in, in, 3);
  c.z_channels = in;
  c.head_kernel = 1;
  return c;
}

}  // namespace gn::nyuv2::detail
