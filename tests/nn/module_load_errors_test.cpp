// Module::load_state_dict refusals: each names the entry and leaves the module exactly as it was, even
// though the other entries of the checkpoint are valid (all are checked before any is copied).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "error_of.h"
#include "state_test_support.h"

namespace gn::nn {
namespace {

using testing::expect_same_state;
using testing::Nested;

// A target, and a valid checkpoint of a differently seeded module to corrupt one entry of.
struct Fixture {
  Generator gt{1}, gs{2};
  Nested target{gt};
  StateDict before = target.state_dict();
  StateDict checkpoint = Nested(gs).state_dict();

  Tensor& entry(const std::string& name) {
    for (auto& [n, t] : checkpoint) {
      if (n == name) return t;
    }
    throw std::logic_error("no entry " + name);
  }
  void erase(const std::string& name) {
    std::erase_if(checkpoint, [&](const auto& e) { return e.first == name; });
  }
  // The error of loading the checkpoint; the target must be unchanged afterwards.
  std::string load_error(bool strict = true) {
    const std::string e = error_of([&] { target.load_state_dict(checkpoint, strict); });
    expect_same_state(target.state_dict(), before);
    return e;
  }
};

TEST(ModuleLoadErrors, MissingEntry) {
  Fixture f;
  f.erase("body.3.bias");  // the last entry: every other one would have been copied already
  const std::string e = f.load_error();
  EXPECT_NE(e.find("Module: load_state_dict: nothing loaded: missing entry 'body.3.bias' (float32 (2,))"),
            std::string::npos)
      << e;
}

TEST(ModuleLoadErrors, UnexpectedEntry) {
  Fixture f;
  f.checkpoint.emplace_back("body.3.extra", Tensor::zeros({2}));
  const std::string e = f.load_error();
  EXPECT_NE(e.find("unexpected entry 'body.3.extra' (float32 (2,))"), std::string::npos) << e;
}

TEST(ModuleLoadErrors, MisShapedEntry) {
  Fixture f;
  f.entry("body.3.weight") = Tensor::zeros({4, 2});
  const std::string e = f.load_error();
  EXPECT_NE(e.find("entry 'body.3.weight' has shape (4, 2), expected (2, 4)"), std::string::npos) << e;
}

TEST(ModuleLoadErrors, WrongDtypeEntry) {
  Fixture f;
  f.entry("body.2.batches") = Tensor::zeros({}, DType::Float64);
  const std::string e = f.load_error();
  EXPECT_NE(e.find("entry 'body.2.batches' has dtype float64, expected int64"), std::string::npos) << e;
  f.entry("body.2.batches") = Tensor::zeros({}, DType::Int64);
  f.entry("offset") = Tensor::zeros({2}, DType::Float32);
  EXPECT_NE(f.load_error().find("entry 'offset' has dtype float32, expected float64"), std::string::npos);
}

TEST(ModuleLoadErrors, DuplicateAndUndefinedEntries) {
  Fixture f;
  f.checkpoint.emplace_back("body.0.bias", Tensor::zeros({4}));
  f.entry("offset") = Tensor();
  const std::string e = f.load_error();
  EXPECT_NE(e.find("entry 'body.0.bias' appears more than once"), std::string::npos) << e;
  EXPECT_NE(e.find("entry 'offset' is an undefined tensor"), std::string::npos) << e;
}

TEST(ModuleLoadErrors, OneMessageNamesEveryBadEntry) {
  Fixture f;
  f.erase("offset");
  f.entry("body.0.weight") = Tensor::zeros({3, 4});
  f.checkpoint.emplace_back("head.weight", Tensor::zeros({1}));
  const std::string e = f.load_error();
  EXPECT_NE(e.find("missing entry 'offset'"), std::string::npos) << e;
  EXPECT_NE(e.find("entry 'body.0.weight' has shape (3, 4), expected (4, 3)"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected entry 'head.weight'"), std::string::npos) << e;
}

TEST(ModuleLoadErrors, LongListsAreCut) {
  Fixture f;
  for (int i = 0; i < 12; ++i) f.checkpoint.emplace_back(fmt::format("x{}", i), Tensor::zeros({1}));
  const std::string e = f.load_error();
  EXPECT_NE(e.find("unexpected entry 'x7'"), std::string::npos) << e;
  EXPECT_EQ(e.find("'x8'"), std::string::npos) << e;
  EXPECT_NE(e.find("; and 4 more"), std::string::npos) << e;
}

TEST(ModuleLoadErrors, NonStrictSkipsMissingAndUnexpectedButReportsThem) {
  Fixture f;
  f.erase("offset");
  f.checkpoint.emplace_back("head.weight", Tensor::zeros({1}));
  const Tensor saved_weight = f.entry("body.0.weight");
  const LoadReport report = f.target.load_state_dict(f.checkpoint, /*strict=*/false);
  EXPECT_EQ(report.missing, (std::vector<std::string>{"offset"}));
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"head.weight"}));
  EXPECT_EQ(f.target.offset.to_vector(), f.before[0].second.to_vector());  // kept
  EXPECT_EQ(f.target.state_dict()[1].second.to_vector(), saved_weight.to_vector());
  // A strict load that succeeds reports nothing.
  const LoadReport clean = f.target.load_state_dict(f.target.state_dict());
  EXPECT_TRUE(clean.missing.empty() && clean.unexpected.empty());
}

TEST(ModuleLoadErrors, NonStrictStillRefusesShapeAndDtypeMismatches) {
  Fixture f;
  f.entry("body.3.bias") = Tensor::zeros({3});
  const std::string e = f.load_error(/*strict=*/false);
  EXPECT_NE(e.find("entry 'body.3.bias' has shape (3,), expected (2,)"), std::string::npos) << e;
}

}  // namespace
}  // namespace gn::nn
