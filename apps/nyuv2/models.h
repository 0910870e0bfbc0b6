#pragma once
// The paper's two NYUv2 networks (Section 5.1) as multitask models:
//
//   x --trunk--> h --W (last shared conv)--> z ==> head_i = BN -> ReLU -> conv(C_i) --> prediction_i
//
// "All model parameters are shared amongst all tasks until the final layer": the final conv (the classifier
// or regressor) is per task, and W is the conv that feeds it, the last layer whose parameters every task
// shares; GradNorm measures ||grad_W w_i L_i|| there. W's output z is cut before its batch norm, so the BN
// and ReLU that follow W in the single-task network sit in every head (T small per-task BNs of 2 * C_z
// parameters each): the cut must be at a layer's output, and a BN after W would be a shared layer above W.
//
//   SegNet (segnet.cpp): VGG16 encoder/decoder, max-unpooling with the encoder's pool indices.
//     output_stride 1: the full decoder; W = decoder stage 1's first conv (64 -> 64, 3x3), full resolution.
//     output_stride 4: the paper's 80x80-from-320x320 variant: the decoder unpools three times of five
//       (stages 5, 4, 3), W = decoder stage 3's last conv (256 -> 128), the classifier reads stride 4.
//   Thin ResNet-50 FCN (resnet_fcn.cpp): bottleneck ResNet-50 (3, 4, 6, 3) with a 1024-channel last stage,
//     strides moved earlier, a learned-upsampling decoder with skips back to stride 4; W = the decoder's
//     final 3x3 conv (64 -> 64) at stride 4.
// Every choice the paper leaves open is listed in apps/nyuv2/README.md ("Models").
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/rng.h"
#include "multitask/model.h"
#include "multitask/task.h"

namespace gn::nyuv2 {

enum class ModelKind { SegNet, ResNetFcn };
ModelKind parse_model_kind(std::string_view name);  // "segnet" | "resnet-fcn"; throws naming the choices
std::string to_string(ModelKind kind);

// One task's output: `channels` maps at the model's output stride (13 for NYUv2 segmentation, 1 depth,
// 3 normals, 48 keypoint heatmaps) trained with `loss` (the caller's: multitask/task.h).
struct TaskSpec {
  std::string name;
  std::int64_t channels = 1;
  multitask::TaskLoss loss = multitask::TaskLoss::mse();
  std::vector<std::shared_ptr<multitask::Metric>> metrics;
};

struct ModelSpec {
  ModelKind kind = ModelKind::SegNet;
  // Multiplies every hidden channel count c (not the 3 input channels, not the task outputs):
  // max(1, round(c * width_mult)). 1 is the paper's network; 0.25 (SegNet: 16/32/64/128/128) and 1/16
  // (4/8/16/32/32) are for CPU runs and tests. Parameter counts shrink roughly as width_mult^2.
  double width_mult = 1.0;
  std::vector<TaskSpec> tasks;
  // Output resolution as input / output_stride. 0: the model's default (SegNet 1, ResNet FCN 4).
  // SegNet: 1 or 4; ResNet FCN: 4 only.
  int output_stride = 0;
  DType dtype = DType::Float32;
  Device device = cpu_device();
  std::uint64_t seed = 0;  // every parameter is drawn from Generator(seed), in construction order
};

// Channel count c at width w: max(1, round(c * w)).
std::int64_t scaled_channels(std::int64_t c, double width_mult);
// The output stride the spec resolves to (its default when 0); throws on an unsupported combination.
int resolved_output_stride(const ModelSpec& spec);

// Builds the network on spec.device in spec.dtype, in training mode. Throws gn::Error naming the bad field
// (no tasks, channels < 1, width_mult <= 0, unsupported output stride).
std::shared_ptr<multitask::MultitaskModel> make_nyuv2_model(const ModelSpec& spec);

// The parameter count of make_nyuv2_model(spec), from the spec alone (nothing is allocated), split by role.
struct ParameterCount {
  std::int64_t trunk = 0;   // everything below W
  std::int64_t shared = 0;  // W
  std::vector<std::int64_t> heads;
  std::int64_t total() const;
};
ParameterCount count_nyuv2_parameters(const ModelSpec& spec);

// Documented counts (tests/apps/nyuv2_models_test.cpp checks them against constructed models).
// SegNet, full width, full decoder, one 1-channel output: encoder 14,723,136 + decoder 14,720,449.
inline constexpr std::int64_t kSegNetParams = 29'443'585;
// SegNet, full width, stride-4 output (three unpools), one 1-channel output.
inline constexpr std::int64_t kSegNetStride4Params = 29'185'345;
// SegNet, full width, full decoder, T = 3 (segmentation 13, depth 1, normals 3).
inline constexpr std::int64_t kSegNetNyuv2Params = 29'453'073;
// Thin ResNet-50 FCN, full width, one 1-channel output; its encoder alone is 12,945,472.
inline constexpr std::int64_t kResNetFcnParams = 14'422'017;
inline constexpr std::int64_t kResNetFcnEncoderParams = 12'945'472;

namespace detail {
// Builders behind make_nyuv2_model (segnet.cpp, resnet_fcn.cpp): the trunk below W, W, and the
// channel count of z (what every head reads).
struct Body {
  std::shared_ptr<nn::Module> trunk;
  std::shared_ptr<nn::SharedLayer> shared;
  std::int64_t z_channels = 0;
  std::int64_t head_kernel = 1;  // the per-task final conv: head_kernel x head_kernel, padding head_kernel / 2
};
Body make_segnet_body(const ModelSpec& spec, Generator& gen);
Body make_resnet_fcn_body(const ModelSpec& spec, Generator& gen);
struct BodyCount {
  std::int64_t trunk = 0, shared = 0, z_channels = 0, head_kernel = 1;
};
BodyCount count_segnet_body(const ModelSpec& spec);
BodyCount count_resnet_fcn_body(const ModelSpec& spec);
}  // namespace detail

}  // namespace gn::nyuv2
