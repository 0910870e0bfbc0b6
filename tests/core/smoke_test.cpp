#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"

TEST(Smoke, AddBackward) {
  gn::Tensor a = gn::Tensor::ones({2, 3}, gn::DType::Float64).set_requires_grad();
  gn::Tensor b = gn::Tensor::full({3}, 2.0, gn::DType::Float64).set_requires_grad();
  gn::Tensor y = gn::sum(gn::mul(gn::add(a, b), a));
  gn::backward(y);
  EXPECT_DOUBLE_EQ(y.item(), 18.0);
  EXPECT_EQ(a.grad().to_vector(), std::vector<double>(6, 4.0));
  EXPECT_EQ(b.grad().to_vector(), std::vector<double>(3, 2.0));
}
