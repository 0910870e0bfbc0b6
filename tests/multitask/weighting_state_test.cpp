// A weighting's state_dict round trip: save after k updates, load into a freshly built method, and the
// next update gives bitwise the same weights and internals as the uninterrupted one. Bad state is
// refused whole.
#include <gtest/gtest.h>

#include <cmath>

#include "multitask/strategies.h"

namespace gn {
namespace {

multitask::TaskSignals signals(int k, int T) {
  std::vector<double> L(T), sq(T);
  for (int i = 0; i < T; ++i) {
    L[i] = (1.0 + i) * std::exp(-0.05 * (1 + i) * k);
    sq[i] = std::pow(0.5 + i + 0.1 * k, 2);
  }
  return {k, Tensor::from_vector(L, {T}, DType::Float64), Tensor::from_vector(sq, {T}, DType::Float64), Tensor()};
}

multitask::WeightingConfig config(const char* weight_param = "linear") {
  multitask::WeightingConfig cfg;
  cfg.gradnorm.weight_param = weight_param;
  cfg.gradnorm.alpha = 0.7;
  cfg.gradnorm.initial_loss = multitask::InitialLoss::parse("mean-of-first:3");
  cfg.static_weights = {0.5, 1.0, 1.5};
  return cfg;
}

class WeightingState : public ::testing::TestWithParam<const char*> {};

TEST_P(WeightingState, RoundTripGivesTheSameNextUpdate) {
  const int T = 3;
  auto original = multitask::make_weighting(GetParam(), T, config());
  for (int k = 0; k < 2; ++k) original->update(signals(k, T));  // mid-way through the L_i(0) window
  const nn::StateDict saved = original->state_dict();
  auto resumed = multitask::make_weighting(GetParam(), T, config());
  resumed->load_state_dict(saved);
  EXPECT_EQ(resumed->updates(), original->updates());
  EXPECT_EQ(resumed->read_weights(), original->read_weights());
  for (int k = 2; k < 6; ++k) {
    original->update(signals(k, T));
    resumed->update(signals(k, T));
    ASSERT_EQ(resumed->read_weights(), original->read_weights()) << "update " << k;
    const auto a = original->read_diagnostics(), b = resumed->read_diagnostics();
    ASSERT_EQ(a.entries, b.entries) << "update " << k;
  }
  EXPECT_EQ(resumed->weights().to_vector(), original->weights().to_vector()) << "the model-dtype copy too";
}

// The round trip test can fail: without the saved state, the next update of a moving method differs.
class MovingWeightingState : public ::testing::TestWithParam<const char*> {};

TEST_P(MovingWeightingState, WithoutTheStateTheNextUpdateDiffers) {
  const int T = 3;
  auto original = multitask::make_weighting(GetParam(), T, config()),
       fresh = multitask::make_weighting(GetParam(), T, config());
  for (int k = 0; k < 2; ++k) original->update(signals(k, T));
  original->update(signals(2, T));
  fresh->update(signals(2, T));
  EXPECT_NE(fresh->read_weights(), original->read_weights());
}

INSTANTIATE_TEST_SUITE_P(MovingMethods, MovingWeightingState, ::testing::Values("gradnorm", "uncertainty"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(WeightingState, BadStateIsRefusedAndChangesNothing) {
  const int T = 3;
  auto w = multitask::make_weighting(GetParam(), T, config());
  w->update(signals(0, T));
  const nn::StateDict good = w->state_dict();
  const auto before = w->read_weights();
  auto expect_refused = [&](nn::StateDict bad, const char* what) {
    try {
      w->load_state_dict(bad);
      ADD_FAILURE() << what << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find(w->name()), 0u) << e.what();
    }
    EXPECT_EQ(w->read_weights(), before) << what;
    EXPECT_EQ(w->updates(), 1) << what;
  };
  nn::StateDict missing(good.begin(), good.end() - 1);
  expect_refused(missing, "a missing entry");
  nn::StateDict extra = good;
  extra.emplace_back("bogus", nn::state_count(1));
  expect_refused(extra, "an unexpected entry");
  nn::StateDict reshaped = good;
  reshaped.back().second = Tensor::zeros({reshaped.back().second.numel() + 1}, reshaped.back().second.dtype());
  expect_refused(reshaped, "a mis-shaped entry");
}

// GradNorm's log and softmax parameterisations: s and the floor count travel with the state, the next
// updates are bitwise those of the uninterrupted run, and a state of another parameterisation is refused
// with an error naming both.
TEST(GradNormWeightParamState, RoundTripAndMismatchRefused) {
  const int T = 3;
  for (const char* param : {"linear", "log", "softmax"}) {
    auto original = multitask::make_weighting("gradnorm", T, config(param));
    for (int k = 0; k < 4; ++k) original->update(signals(k, T));
    const nn::StateDict saved = original->state_dict();
    auto resumed = multitask::make_weighting("gradnorm", T, config(param));
    resumed->load_state_dict(saved);
    for (int k = 4; k < 8; ++k) {
      original->update(signals(k, T));
      resumed->update(signals(k, T));
      ASSERT_EQ(resumed->read_weights(), original->read_weights()) << param << " update " << k;
      ASSERT_EQ(resumed->read_diagnostics().entries, original->read_diagnostics().entries) << param;
    }
    EXPECT_TRUE(original->read_diagnostics().has("floor_hits"));
    EXPECT_EQ(original->read_diagnostics().has("params"), std::string(param) != "linear");
    for (const char* other : {"linear", "log", "softmax"}) {
      if (std::string(other) == param) continue;
      auto w = multitask::make_weighting("gradnorm", T, config(other));
      const auto before = w->read_weights();
      try {
        w->load_state_dict(saved);
        ADD_FAILURE() << param << " state loaded into a " << other << " run";
      } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(std::string("'") + param + "'"), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string("'") + other + "'"), std::string::npos) << msg;
      }
      EXPECT_EQ(w->read_weights(), before);
      EXPECT_EQ(w->updates(), 0);
    }
  }
  EXPECT_THROW(multitask::make_weighting("gradnorm", T, config("exp")), Error);
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, WeightingState,
                         ::testing::Values("equal", "static", "gradnorm", "uncertainty", "gradnorm-static"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace gn
