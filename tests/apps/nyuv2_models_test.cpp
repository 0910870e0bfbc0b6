// The NYUv2 networks (apps/nyuv2/models.h): parameter counts against the documented integers and against
// the pure counting function, output shapes at odd sizes, forward/backward, W, GradNorm steps through
// MultitaskStep, train/eval propagation and state_dict round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "apps/nyuv2/models.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "multitask/step.h"
#include "multitask/strategies.h"
#include "nn/adam.h"
#include "nn/conv.h"

namespace gn::nyuv2 {
namespace {

using multitask::TaskLoss;

std::vector<TaskSpec> nyuv2_tasks() {
  return {{"segmentation", 13, TaskLoss::cross_entropy(-1), {}},
          {"depth", 1, TaskLoss::mse(), {}},
          {"normals", 3, TaskLoss::mse(), {}}};
}

ModelSpec spec_of(ModelKind kind, double width, std::vector<TaskSpec> tasks, int stride = 0) {
  ModelSpec s;
  s.kind = kind;
  s.width_mult = width;
  s.tasks = std::move(tasks);
  s.output_stride = stride;
  s.seed = 7;
  return s;
}

std::vector<TaskSpec> one_output() { return {{"out", 1, TaskLoss::mse(), {}}}; }

// Sum of numel over the parameters whose name starts with one of `prefixes`.
std::int64_t params_under(const nn::Module& m, std::initializer_list<std::string> prefixes) {
  std::int64_t n = 0;
  for (const auto& [name, p] : m.named_parameters())
    for (const auto& pre : prefixes)
      if (name.rfind(pre, 0) == 0) {
        n += p.numel();
        break;
      }
  return n;
}

Tensor entry(const nn::StateDict& sd, const std::string& name) {
  for (const auto& [n, t] : sd)
    if (n == name) return t;
  ADD_FAILURE() << "no state_dict entry " << name;
  return {};
}

void expect_all_modes(const nn::Module& m, bool training, const std::string& path = "model") {
  EXPECT_EQ(m.is_training(), training) << path;
  for (const auto& [name, child] : m.named_children()) expect_all_modes(*child, training, path + "." + name);
}

TEST(Nyuv2Models, SegNetFullWidthSingleOutputIs29_44M) {
  const ModelSpec spec = spec_of(ModelKind::SegNet, 1.0, one_output());
  EXPECT_EQ(count_nyuv2_parameters(spec).total(), kSegNetParams);
  auto model = make_nyuv2_model(spec);
  EXPECT_EQ(model->num_parameters(), 29'443'585);
  EXPECT_EQ(params_under(*model, {"trunk.enc"}), 14'723'136);                            // the VGG16 encoder
  EXPECT_EQ(model->num_parameters() - params_under(*model, {"trunk.enc"}), 14'720'449);  // its mirror
}

TEST(Nyuv2Models, SegNetDocumentedCounts) {
  EXPECT_EQ(count_nyuv2_parameters(spec_of(ModelKind::SegNet, 1.0, one_output(), 4)).total(), kSegNetStride4Params);
  const ParameterCount t3 = count_nyuv2_parameters(spec_of(ModelKind::SegNet, 1.0, nyuv2_tasks()));
  EXPECT_EQ(t3.total(), kSegNetNyuv2Params);
  EXPECT_EQ(t3.shared, 64 * 64 * 9 + 64);
  // heads: BN(64) + conv3x3 64 -> C with bias
  EXPECT_EQ(t3.heads, (std::vector<std::int64_t>{128 + 64 * 13 * 9 + 13, 128 + 64 * 9 + 1, 128 + 64 * 3 * 9 + 3}));
  // The stride-4 variant at full width, constructed.
  EXPECT_EQ(make_nyuv2_model(spec_of(ModelKind::SegNet, 1.0, one_output(), 4))->num_parameters(), kSegNetStride4Params);
}

TEST(Nyuv2Models, ResNetFcnFullWidthCount) {
  const ModelSpec spec = spec_of(ModelKind::ResNetFcn, 1.0, one_output());
  EXPECT_EQ(count_nyuv2_parameters(spec).total(), kResNetFcnParams);
  auto model = make_nyuv2_model(spec);
  EXPECT_EQ(model->num_parameters(), kResNetFcnParams);
  EXPECT_EQ(params_under(*model, {"trunk.stem", "trunk.layer"}), kResNetFcnEncoderParams);
}

TEST(Nyuv2Models, CountingFunctionMatchesConstructedModels) {
  for (ModelKind kind : {ModelKind::SegNet, ModelKind::ResNetFcn})
    for (double width : {1.0 / 16, 0.1, 0.25})
      for (int stride : {0, 4})
        for (const auto& tasks : {one_output(), nyuv2_tasks()}) {
          const ModelSpec spec = spec_of(kind, width, tasks, stride);
          const ParameterCount c = count_nyuv2_parameters(spec);
          auto model = make_nyuv2_model(spec);
          SCOPED_TRACE(to_string(kind) + " width " + std::to_string(width) + " stride " + std::to_string(stride));
          EXPECT_EQ(model->num_parameters(), c.total());
          EXPECT_EQ(model->trunk_below().num_parameters(), c.trunk);
          EXPECT_EQ(model->shared().num_parameters(), c.shared);
          for (int i = 0; i < model->num_tasks(); ++i)
            EXPECT_EQ(model->head(i).num_parameters(), c.heads[static_cast<std::size_t>(i)]);
        }
}

TEST(Nyuv2Models, WidthScalesChannels) {
  EXPECT_EQ(scaled_channels(64, 0.25), 16);
  EXPECT_EQ(scaled_channels(512, 1.0 / 16), 32);
  EXPECT_EQ(scaled_channels(64, 0.001), 1);
  // SegNet at width 0.25 (16/32/64/128/128): about 1/16 of the full network.
  const std::int64_t quarter = count_nyuv2_parameters(spec_of(ModelKind::SegNet, 0.25, one_output())).total();
  EXPECT_EQ(quarter, 1'845'121);
}

// The counts apps/nyuv2/README.md ("Models") documents; the counting function is checked against
// constructed models at these widths above.
TEST(Nyuv2Models, ReadmeCounts) {
  auto total = [](ModelKind kind, double width, std::vector<TaskSpec> tasks, int stride = 0) {
    return count_nyuv2_parameters(spec_of(kind, width, std::move(tasks), stride)).total();
  };
  const ParameterCount segnet = count_nyuv2_parameters(spec_of(ModelKind::SegNet, 1.0, nyuv2_tasks()));
  EXPECT_EQ(segnet.trunk, 29'405'952);
  EXPECT_EQ(segnet.shared, 36'928);
  EXPECT_EQ(total(ModelKind::SegNet, 1.0, nyuv2_tasks(), 4), 29'204'305);
  EXPECT_EQ(total(ModelKind::SegNet, 0.25, nyuv2_tasks()), 1'847'505);
  EXPECT_EQ(total(ModelKind::SegNet, 1.0 / 16, one_output()), 116'545);
  EXPECT_EQ(total(ModelKind::SegNet, 1.0 / 16, nyuv2_tasks()), 117'153);
  const ParameterCount fcn = count_nyuv2_parameters(spec_of(ModelKind::ResNetFcn, 1.0, one_output()));
  EXPECT_EQ(fcn.trunk, kResNetFcnEncoderParams + 1'439'488);
  EXPECT_EQ(fcn.shared, 36'864);
  EXPECT_EQ(total(ModelKind::ResNetFcn, 1.0, nyuv2_tasks()), 14'423'313);
  EXPECT_EQ(total(ModelKind::ResNetFcn, 0.25, nyuv2_tasks()), 911'697);
  EXPECT_EQ(total(ModelKind::ResNetFcn, 1.0 / 16, nyuv2_tasks()), 59'553);
}

struct ShapeCase {
  ModelKind kind;
  int stride;
  std::int64_t out_h, out_w;
};

TEST(Nyuv2Models, OutputShapesAtAnOddSize) {
  // 36 x 52 through five 2x2 pools: 36 -> 18 -> 9 -> 4 -> 2 -> 1 and 52 -> 26 -> 13 -> 6 -> 3 -> 1.
  for (const ShapeCase& c : {ShapeCase{ModelKind::SegNet, 1, 36, 52}, ShapeCase{ModelKind::SegNet, 4, 9, 13},
                             ShapeCase{ModelKind::ResNetFcn, 4, 9, 13}}) {
    SCOPED_TRACE(to_string(c.kind) + " stride " + std::to_string(c.stride));
    auto model = make_nyuv2_model(spec_of(c.kind, 1.0 / 16, nyuv2_tasks(), c.stride));
    Generator gen(1);
    const std::vector<Tensor> preds = model->forward_all(Tensor::randn({2, 3, 36, 52}, gen));
    ASSERT_EQ(preds.size(), 3u);
    const std::int64_t channels[] = {13, 1, 3};
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(preds[i].shape(), (Shape{2, channels[i], c.out_h, c.out_w}));
  }
}

TEST(Nyuv2Models, WIsTheLastSharedConv) {
  auto segnet = make_nyuv2_model(spec_of(ModelKind::SegNet, 1.0, nyuv2_tasks()));
  auto* w = dynamic_cast<nn::Conv2d*>(&segnet->shared());
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->in_channels(), 64);
  EXPECT_EQ(w->out_channels(), 64);
  auto quarter = make_nyuv2_model(spec_of(ModelKind::SegNet, 1.0 / 16, nyuv2_tasks(), 4));
  auto* wq = dynamic_cast<nn::Conv2d*>(&quarter->shared());
  ASSERT_NE(wq, nullptr);
  EXPECT_EQ(wq->in_channels(), 16);  // 256 / 16 -> 128 / 16
  EXPECT_EQ(wq->out_channels(), 8);
  auto fcn = make_nyuv2_model(spec_of(ModelKind::ResNetFcn, 1.0 / 16, nyuv2_tasks()));
  auto* wf = dynamic_cast<nn::Conv2d*>(&fcn->shared());
  ASSERT_NE(wf, nullptr);
  EXPECT_EQ(wf->out_channels(), 4);
}

TEST(Nyuv2Models, ForwardBackwardReachesEveryParameter) {
  for (ModelKind kind : {ModelKind::SegNet, ModelKind::ResNetFcn}) {
    SCOPED_TRACE(to_string(kind));
    auto model = make_nyuv2_model(spec_of(kind, 1.0 / 16, nyuv2_tasks()));
    Generator gen(2);
    Tensor loss;
    for (const Tensor& p : model->forward_all(Tensor::randn({2, 3, 33, 47}, gen))) {
      const Tensor l = mean(mul(p, p));
      loss = loss.defined() ? add(loss, l) : l;
    }
    backward(loss);
    for (const auto& [name, p] : model->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      double sq = 0;
      for (double g : p.grad().to_vector()) sq += g * g;
      EXPECT_TRUE(std::isfinite(sq)) << name;
    }
  }
}

TEST(Nyuv2Models, GradNormStepsThroughMultitaskStep) {
  for (ModelKind kind : {ModelKind::SegNet, ModelKind::ResNetFcn}) {
    SCOPED_TRACE(to_string(kind));
    auto model = make_nyuv2_model(spec_of(kind, 1.0 / 16, nyuv2_tasks()));
    multitask::WeightingConfig cfg;
    cfg.gradnorm.alpha = 1.5;
    auto weighting = multitask::make_weighting("gradnorm", 3, cfg);
    nn::Adam opt(model->parameters(), 1e-3);
    multitask::MultitaskStep step(*model, *weighting, opt);
    Generator gen(3);
    const std::int64_t B = 2, H = 32, W = 40;
    const std::int64_t oh = kind == ModelKind::SegNet ? H : H / 4, ow = kind == ModelKind::SegNet ? W : W / 4;
    const Tensor x = Tensor::randn({B, 3, H, W}, gen);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(B * oh * ow));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 14) - 1;  // -1 ignored
    const std::vector<Tensor> targets = {Tensor::from_labels(labels, {B, oh, ow}), Tensor::randn({B, 1, oh, ow}, gen),
                                         Tensor::randn({B, 3, oh, ow}, gen)};
    for (int s = 0; s < 3; ++s) {
      const multitask::StepStats st = step.step(x, targets);
      ASSERT_EQ(st.losses.size(), 3u);
      for (double l : st.losses) EXPECT_TRUE(std::isfinite(l));
      ASSERT_EQ(st.grad_norms.size(), 3u);
      for (double g : st.grad_norms) EXPECT_GT(g, 0);
      double sum = 0;
      for (double w : st.next_weights) {
        EXPECT_GT(w, 0);
        sum += w;
      }
      EXPECT_NEAR(sum, 3.0, 1e-9);
    }
  }
}

TEST(Nyuv2Models, TrainEvalPropagatesAndEvalIsDeterministic) {
  auto model = make_nyuv2_model(spec_of(ModelKind::SegNet, 1.0 / 16, nyuv2_tasks()));
  expect_all_modes(*model, true);
  model->eval();
  expect_all_modes(*model, false);
  Generator gen(4);
  const Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  const auto before = model->state_dict();
  const std::vector<double> a = model->forward_all(x)[1].to_vector(), b = model->forward_all(x)[1].to_vector();
  EXPECT_EQ(a, b);  // eval: running statistics, not the batch's, and they do not move
  const auto after = model->state_dict();
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(before[i].second.to_vector(), after[i].second.to_vector()) << before[i].first;
  model->train();
  expect_all_modes(*model, true);
  model->forward_all(x);
  EXPECT_NE(entry(model->state_dict(), "trunk.enc1.1.running_mean").to_vector(),
            entry(before, "trunk.enc1.1.running_mean").to_vector());
}

TEST(Nyuv2Models, StateDictRoundTrip) {
  for (ModelKind kind : {ModelKind::SegNet, ModelKind::ResNetFcn}) {
    SCOPED_TRACE(to_string(kind));
    ModelSpec s1 = spec_of(kind, 1.0 / 16, nyuv2_tasks()), s2 = s1;
    s2.seed = 99;
    auto a = make_nyuv2_model(s1), b = make_nyuv2_model(s2);
    Generator gen(5);
    const Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
    a->forward_all(x);  // move a's running statistics off their initial values
    a->eval();
    b->eval();
    EXPECT_NE(a->forward_all(x)[0].to_vector(), b->forward_all(x)[0].to_vector());
    b->load_state_dict(a->state_dict());
    const auto pa = a->forward_all(x), pb = b->forward_all(x);
    for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].to_vector(), pb[i].to_vector());
  }
}

TEST(Nyuv2Models, BadSpecsNameTheProblem) {
  auto message = [](const ModelSpec& s) {
    try {
      make_nyuv2_model(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(spec_of(ModelKind::SegNet, 0.0, one_output())).find("width_mult"), std::string::npos);
  EXPECT_NE(message(spec_of(ModelKind::SegNet, 1.0, {})).find("at least one task"), std::string::npos);
  EXPECT_NE(message(spec_of(ModelKind::SegNet, 1.0 / 16, one_output(), 2)).find("output_stride"), std::string::npos);
  EXPECT_NE(message(spec_of(ModelKind::ResNetFcn, 1.0 / 16, one_output(), 1)).find("output_stride"), std::string::npos);
  EXPECT_NE(message(spec_of(ModelKind::SegNet, 1.0 / 16, {{"seg", 0, TaskLoss::mse(), {}}})).find("channels"),
            std::string::npos);
  EXPECT_THROW(parse_model_kind("vgg"), Error);
  EXPECT_EQ(parse_model_kind("resnet-fcn"), ModelKind::ResNetFcn);
  auto segnet = make_nyuv2_model(spec_of(ModelKind::SegNet, 1.0 / 16, one_output()));
  Generator gen(6);
  EXPECT_THROW(segnet->forward_all(Tensor::randn({1, 3, 16, 64}, gen)), Error);  // five pools need >= 32
}

}  // namespace
}  // namespace gn::nyuv2
