#include "apps/nyuv2/models.h"

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "nn/activation.h"
#include "nn/batch_norm.h"
#include "nn/conv.h"
#include "nn/sequential.h"

namespace gn::nyuv2 {

ModelKind parse_model_kind(std::string_view name) {
  if (name == "segnet") return ModelKind::SegNet;
  if (name == "resnet-fcn") return ModelKind::ResNetFcn;
  throw Error(fmt::format("unknown model '{}': expected segnet or resnet-fcn", name));
}

std::string to_string(ModelKind kind) { return kind == ModelKind::SegNet ? "segnet" : "resnet-fcn"; }

std::int64_t scaled_channels(std::int64_t c, double width_mult) {
  return std::max<std::int64_t>(1, std::llround(static_cast<double>(c) * width_mult));
}

int resolved_output_stride(const ModelSpec& spec) {
  if (spec.kind == ModelKind::SegNet) {
    const int s = spec.output_stride == 0 ? 1 : spec.output_stride;
    GN_CHECK(s == 1 || s == 4, "segnet: output_stride must be 1 (full decoder) or 4 (three unpools), got {}",
             spec.output_stride);
    return s;
  }
  const int s = spec.output_stride == 0 ? 4 : spec.output_stride;
  GN_CHECK(s == 4, "resnet-fcn: output_stride must be 4, got {}", spec.output_stride);
  return s;
}

std::int64_t ParameterCount::total() const { return std::accumulate(heads.begin(), heads.end(), trunk + shared); }

namespace {

void check_spec(const ModelSpec& spec) {
  const std::string model = to_string(spec.kind);
  GN_CHECK(std::isfinite(spec.width_mult) && spec.width_mult > 0, "{}: width_mult must be > 0, got {}", model,
           spec.width_mult);
  GN_CHECK(!spec.tasks.empty(), "{}: needs at least one task", model);
  for (std::size_t i = 0; i < spec.tasks.size(); ++i)
    GN_CHECK(spec.tasks[i].channels >= 1, "{}: task {} ('{}') has {} output channels; needs >= 1", model, i,
             spec.tasks[i].name, spec.tasks[i].channels);
  resolved_output_stride(spec);
}

// z (B, C_z, H, W) -> BN -> ReLU -> conv k x k (C_z -> C, with bias) -> (B, C, H, W).
std::int64_t head_params(std::int64_t z, std::int64_t c, std::int64_t k) { return 2 * z + z * c * k * k + c; }

}  // namespace

std::shared_ptr<multitask::MultitaskModel> make_nyuv2_model(const ModelSpec& spec) {
  check_spec(spec);
  Generator gen(spec.seed);
  detail::Body body =
      spec.kind == ModelKind::SegNet ? detail::make_segnet_body(spec, gen) : detail::make_resnet_fcn_body(spec, gen);
  std::vector<multitask::Task> tasks;
  for (const TaskSpec& t : spec.tasks) {
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(std::make_shared<nn::BatchNorm2d>(body.z_channels, 1e-5, 0.1, true, spec.dtype, spec.device));
    head->push_back(std::make_shared<nn::ReLU>());
    head->push_back(std::make_shared<nn::Conv2d>(body.z_channels, t.channels, body.head_kernel, gen,
                                                 nn::Conv2dOptions{.padding = body.head_kernel / 2}, spec.dtype,
                                                 spec.device));
    tasks.push_back({t.name, head, t.loss, t.metrics});
  }
  return std::make_shared<multitask::MultitaskModel>(body.trunk, body.shared, std::move(tasks));
}

ParameterCount count_nyuv2_parameters(const ModelSpec& spec) {
  check_spec(spec);
  const detail::BodyCount b =
      spec.kind == ModelKind::SegNet ? detail::count_segnet_body(spec) : detail::count_resnet_fcn_body(spec);
  ParameterCount c{b.trunk, b.shared, {}};
  for (const TaskSpec& t : spec.tasks) c.heads.push_back(head_params(b.z_channels, t.channels, b.head_kernel));
  return c;
}

}  // namespace gn::nyuv2
