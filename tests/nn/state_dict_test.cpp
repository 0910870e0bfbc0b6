// The StateDict helpers: matching by name, exact counts, prefixes.
#include "nn/state_dict.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "error_of.h"

namespace gn::nn {
namespace {

TEST(StateDict, MatchIsByNameNotPosition) {
  const StateDict expected = {{"a", Tensor::zeros({2})}, {"b", Tensor::zeros({}, DType::Int64)}};
  const Tensor a = Tensor::ones({2}), b = state_count(7);
  const StateMatch m = match_state({{"b", b}, {"a", a}}, expected, "T");
  ASSERT_EQ(m.sources.size(), 2u);
  EXPECT_TRUE(m.sources[0].same(a));
  EXPECT_TRUE(m.sources[1].same(b));
  EXPECT_TRUE(m.report.missing.empty() && m.report.unexpected.empty());
}

TEST(StateDict, NonStrictMatchLeavesMissingSourcesUndefined) {
  const StateDict expected = {{"a", Tensor::zeros({2})}, {"b", Tensor::zeros({2})}};
  const StateMatch m = match_state({{"b", Tensor::ones({2})}, {"c", Tensor::ones({1})}}, expected, "T", false);
  EXPECT_FALSE(m.sources[0].defined());
  EXPECT_TRUE(m.sources[1].defined());
  EXPECT_EQ(m.report.missing, (std::vector<std::string>{"a"}));
  EXPECT_EQ(m.report.unexpected, (std::vector<std::string>{"c"}));
}

TEST(StateDict, CountsAreExactBeyondDoublePrecision) {
  const std::int64_t big = (std::int64_t{1} << 53) + 1;  // not representable as a double
  const Tensor t = state_count(big);
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_EQ(t.shape(), Shape{});
  EXPECT_EQ(read_count(t), big);
  EXPECT_NE(error_of([] { read_count(state_scalar(1)); }).find("read_count: expects one int64, got float64 ()"),
            std::string::npos);
  EXPECT_EQ(read_scalar(state_scalar(0.025)), 0.025);
}

TEST(StateDict, PrefixesCombineAndSplitCheckpoints) {
  StateDict model = {{"w", Tensor::ones({1})}, {"b", Tensor::zeros({1})}};
  const StateDict prefixed = with_prefix(model, "model.");
  ASSERT_EQ(prefixed.size(), 2u);
  EXPECT_EQ(prefixed[0].first, "model.w");
  EXPECT_TRUE(prefixed[0].second.same(model[0].second));
  StateDict all = prefixed;
  all.emplace_back("optimizer.lr", state_scalar(0.1));
  all.emplace_back("modelx", state_scalar(0.1));  // not under "model.": the dot is part of the prefix
  const StateDict back = strip_prefix(all, "model.");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "w");
  EXPECT_EQ(back[1].first, "b");
  EXPECT_EQ(strip_prefix(all, "optimizer.")[0].first, "lr");
}

TEST(StateDict, CopyStateCopiesIntoTheSameStorage) {
  Tensor dst = Tensor::zeros({3});
  const void* storage = dst.raw_data();
  copy_state(dst, Tensor::full({3}, 2.0));
  EXPECT_EQ(dst.raw_data(), storage);
  EXPECT_EQ(dst.to_vector(), (std::vector<double>{2, 2, 2}));
  copy_state(dst, dst);  // onto itself: nothing to do
  EXPECT_EQ(dst.to_vector(), (std::vector<double>{2, 2, 2}));
}

}  // namespace
}  // namespace gn::nn
