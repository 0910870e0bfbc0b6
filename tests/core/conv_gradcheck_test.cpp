// Float64 finite-difference checks of conv2d and conv_transpose2d (gradcheck from tests/core/gradcheck.h)
// at awkward geometries: odd H and W, stride 2, padding 0 and 1, dilation 2, batch 1 and 3,
// C_in != C_out, with and without bias; every input (x, weight, bias) is a variable.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "tests/core/gradcheck.h"

namespace {

using gn::Size2;
using gn::Tensor;
using gn_test::gradcheck;
using gn_test::uniform;
using V = std::vector<Tensor>;

struct Case {
  std::int64_t batch, c_in, h, w, c_out, kh, kw;
  Size2 stride, padding, dilation;
  bool bias;
};

const Case kCases[] = {
    {1, 2, 5, 7, 3, 3, 3, 1, 0, 1, true},                 // odd H != W, no padding
    {3, 3, 7, 5, 2, 3, 3, 2, 1, 1, false},                // stride 2, padding 1, batch 3, no bias
    {1, 2, 7, 7, 3, 3, 3, 1, 1, 2, true},                 // dilation 2
    {3, 1, 6, 9, 4, 2, 3, {2, 1}, {0, 1}, {1, 2}, true},  // per-axis everything
    {1, 4, 3, 5, 2, 1, 1, 1, 0, 1, true},                 // 1x1
};

TEST(GradCheck, conv2d) {
  gn::Generator gen(100);
  for (const Case& c : kCases) {
    V inputs{uniform({c.batch, c.c_in, c.h, c.w}, gen), uniform({c.c_out, c.c_in, c.kh, c.kw}, gen)};
    if (c.bias) inputs.push_back(uniform({c.c_out}, gen));
    EXPECT_TRUE(gradcheck(
        [&](const V& x) { return gn::conv2d(x[0], x[1], c.bias ? x[2] : Tensor(), c.stride, c.padding, c.dilation); },
        inputs))
        << "case x (" << c.batch << ", " << c.c_in << ", " << c.h << ", " << c.w << ") C_out " << c.c_out;
  }
}

TEST(GradCheck, conv_transpose2d) {
  gn::Generator gen(101);
  for (const Case& c : kCases) {
    // output_padding 1 where the stride allows it.
    const Size2 output_padding{c.stride.h > 1 ? 1 : 0, c.stride.w > 1 ? 1 : 0};
    V inputs{uniform({c.batch, c.c_in, c.h, c.w}, gen), uniform({c.c_in, c.c_out, c.kh, c.kw}, gen)};
    if (c.bias) inputs.push_back(uniform({c.c_out}, gen));
    EXPECT_TRUE(gradcheck(
        [&](const V& x) {
          return gn::conv_transpose2d(x[0], x[1], c.bias ? x[2] : Tensor(), c.stride, c.padding, output_padding,
                                      c.dilation);
        },
        inputs))
        << "case x (" << c.batch << ", " << c.c_in << ", " << c.h << ", " << c.w << ") C_out " << c.c_out;
  }
}

TEST(GradCheck, conv2d_then_conv_transpose2d_composed) {
  // A small encoder-decoder: second-order interplay of the two ops' backward closures through tanh.
  gn::Generator gen(102);
  EXPECT_TRUE(gradcheck(
      [](const V& x) {
        const Tensor h = gn::tanh(gn::conv2d(x[0], x[1], x[2], 2, 1));
        return gn::conv_transpose2d(h, x[3], Tensor(), 2, 1, 0);
      },
      {uniform({2, 2, 5, 5}, gen), uniform({3, 2, 3, 3}, gen), uniform({3}, gen), uniform({3, 2, 3, 3}, gen)}));
}

}  // namespace
