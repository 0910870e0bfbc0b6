// SegNet (Badrinarayanan et al. 2015) with a VGG16 encoder and its mirror as decoder, as the GradNorm paper
// uses it for NYUv2 (Section 5.1 of the paper; the layer list is in apps/nyuv2/README.md, "Models"):
//
//   encoder stage s = 1..5: (conv3x3 + BN + ReLU) x n_s, then 2x2 max-pool that keeps its argmax indices
//     channels 64/128/256/512/512, n_s = 2/2/3/3/3
//   decoder stage s = 5..1: max-unpool with stage s's indices (to stage s's pre-pool size, so odd sizes
//     work), then (conv3x3 + BN + ReLU) x n_s, the last conv of each stage reducing the channels:
//     512,512,512 | 512,512,256 | 256,256,128 | 128,64 | 64,C
//
// Multitask split (models.h): the final conv (64 -> C; with output_stride 4, 128 -> C) is per task, and W is
// the conv before it. Full decoder: trunk = encoder + decoder stages 5..2 + the last unpool; W = stage 1's
// 64 -> 64 conv. output_stride 4: the decoder stops after three unpools (stages 5, 4, 3): trunk = encoder +
// stages 5, 4 + stage 3's first two convs; W = stage 3's 256 -> 128 conv.
#include <array>
#include <utility>
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

using Convs = std::vector<std::pair<std::int64_t, std::int64_t>>;  // (C_in, C_out) of each 3x3 conv

// The stages at full width, C omitted (the heads own the final conv).
const std::array<Convs, 5> kEncoder = {
    Convs{{3, 64}, {64, 64}}, Convs{{64, 128}, {128, 128}}, Convs{{128, 256}, {256, 256}, {256, 256}},
    Convs{{256, 512}, {512, 512}, {512, 512}}, Convs{{512, 512}, {512, 512}, {512, 512}}};
// Decoder stages in forward order (mirroring encoder stages 5, 4, 3, 2, 1); stage 1 is 64 -> 64 -> C.
const std::array<Convs, 5> kDecoder = {
    Convs{{512, 512}, {512, 512}, {512, 512}}, Convs{{512, 512}, {512, 512}, {512, 256}},
    Convs{{256, 256}, {256, 256}, {256, 128}}, Convs{{128, 128}, {128, 64}}, Convs{{64, 64}}};

// The network as convs, at the spec's width: encoder stages, the trunk's decoder stages (one per unpool,
// in forward order; the last may be empty) and W. The only table both the builder and the counter read.
struct Plan {
  std::vector<Convs> encoder, decoder;
  std::pair<std::int64_t, std::int64_t> w;
};

Plan plan_for(const ModelSpec& spec) {
  const int stride = resolved_output_stride(spec);
  const int unpools = stride == 1 ? 5 : 3;
  // The input's 3 channels stay 3; every hidden count scales.
  auto scale = [&](std::int64_t c) { return c == 3 ? c : scaled_channels(c, spec.width_mult); };
  auto scaled = [&](const Convs& convs) {
    Convs out;
    for (auto [a, b] : convs) out.emplace_back(scale(a), scale(b));
    return out;
  };
  Plan p;
  for (const Convs& s : kEncoder) p.encoder.push_back(scaled(s));
  for (int k = 0; k < unpools; ++k) p.decoder.push_back(scaled(kDecoder[static_cast<std::size_t>(k)]));
  p.w = p.decoder.back().back();  // the conv before the per-task final conv
  p.decoder.back().pop_back();
  return p;
}

std::int64_t conv_bn_params(std::int64_t in, std::int64_t out) { return in * out * 9 + out + 2 * out; }

std::shared_ptr<nn::Sequential> conv_bn_relu_stage(const Convs& convs, const ModelSpec& spec, Generator& gen) {
  auto seq = std::make_shared<nn::Sequential>();
  for (auto [in, out] : convs) {
    seq->push_back(
        std::make_shared<nn::Conv2d>(in, out, 3, gen, nn::Conv2dOptions{.padding = 1}, spec.dtype, spec.device));
    seq->push_back(std::make_shared<nn::BatchNorm2d>(out, 1e-5, 0.1, true, spec.dtype, spec.device));
    seq->push_back(std::make_shared<nn::ReLU>());
  }
  return seq;
}

// Everything below W. forward carries the five pools' indices and pre-pool sizes from the encoder to the
// decoder, which is why this is its own Module rather than a Sequential.
class SegNetTrunk : public nn::Module {
 public:
  SegNetTrunk(const Plan& plan, const ModelSpec& spec, Generator& gen) {
    for (std::size_t s = 0; s < plan.encoder.size(); ++s)
      encoder_.push_back(
          register_module("enc" + std::to_string(s + 1), conv_bn_relu_stage(plan.encoder[s], spec, gen)));
    for (std::size_t k = 0; k < plan.decoder.size(); ++k)  // decoder stage 5 - k mirrors encoder stage 5 - k
      decoder_.push_back(
          register_module("dec" + std::to_string(5 - k), conv_bn_relu_stage(plan.decoder[k], spec, gen)));
  }

  // x: (B, 3, H, W), H and W >= 32 -> h: (B, C_h, H / s, W / s) for output stride s, the sizes the pools'
  // floors give (H = 36: 36 -> 18 -> 9 -> 4 -> 2 -> 1, unpooled back to 2, 4, 9, 18, 36).
  Tensor forward(const Tensor& x) override {
    GN_CHECK(x.dim() == 4, "SegNet: input must be (B, C, H, W), got {}", gn::to_string(x.shape()));
    GN_CHECK(x.size(2) >= 32 && x.size(3) >= 32, "SegNet: input {}x{} is smaller than 32x32 (five 2x2 pools)",
             x.size(2), x.size(3));
    std::array<Tensor, 5> indices;
    std::array<Size2, 5> sizes{Size2(0), Size2(0), Size2(0), Size2(0), Size2(0)};
    Tensor h = x;
    for (std::size_t s = 0; s < encoder_.size(); ++s) {
      h = encoder_[s]->forward(h);
      sizes[s] = Size2(h.size(2), h.size(3));
      MaxPoolResult pooled = max_pool2d_with_indices(h, 2, 2);
      h = pooled.values;
      indices[s] = pooled.indices;
    }
    for (std::size_t k = 0; k < decoder_.size(); ++k) {
      const std::size_t s = 4 - k;
      h = max_unpool2d(h, indices[s], sizes[s].h, sizes[s].w);
      h = decoder_[k]->forward(h);
    }
    return h;
  }

 private:
  std::vector<std::shared_ptr<nn::Sequential>> encoder_, decoder_;
};

}  // namespace

Body make_segnet_body(const ModelSpec& spec, Generator& gen) {
  const Plan plan = plan_for(spec);
  Body body;
  body.trunk = std::make_shared<SegNetTrunk>(plan, spec, gen);
  body.shared = std::make_shared<nn::Conv2d>(plan.w.first, plan.w.second, 3, gen, nn::Conv2dOptions{.padding = 1},
                                             spec.dtype, spec.device);
  body.z_channels = plan.w.second;
  body.head_kernel = 3;
  return body;
}

BodyCount count_segnet_body(const ModelSpec& spec) {
  const Plan plan = plan_for(spec);
  BodyCount c;
  for (const auto& stages : {plan.encoder, plan.decoder})
    for (const Convs& stage : stages)
      for (auto [in, out] : stage) c.trunk += conv_bn_params(in, out);
  c.shared = plan.w.first * plan.w.second * 9 + plan.w.second;  // W has a bias (VGG convs do)
  c.z_channels = plan.w.second;
  c.head_kernel = 3;
  return c;
}

}  // namespace gn::nyuv2::detail
