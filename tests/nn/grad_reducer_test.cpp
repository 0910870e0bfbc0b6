// nn::GradReducer with the single-process communicator: the packing into buckets and back is exact, the
// scale applies, and parameters without a gradient get a zero one. (Sums over real ranks:
// tests/mpi/toy_data_parallel.sh.)
#include "nn/grad_reducer.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/communicator.h"

namespace gn::nn {
namespace {

Tensor param(const Shape& shape, DType dtype, double first) {
  std::vector<double> v(static_cast<std::size_t>(numel(shape)));
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = first + static_cast<double>(k);
  Tensor p = Tensor::from_vector(v, shape, dtype);
  p.set_requires_grad();
  p.set_grad(Tensor::from_vector(v, shape, dtype));
  return p;
}

TEST(GradReducer, ScalesEveryGradientThroughManyBucketsAndDtypes) {
  auto comm = make_communicator("single");
  // 64-byte buckets: the (4, 5) float32 parameter (80 bytes) gets a bucket of its own, the float64 one
  // starts a new bucket, the two small float32 ones share one.
  GradReducer reducer(*comm, 64);
  const std::vector<Tensor> params{param({4, 5}, DType::Float32, 1), param({3}, DType::Float64, -2),
                                   param({2}, DType::Float32, 10), param({2}, DType::Float32, 20)};
  reducer.reduce(params, 0.5);
  EXPECT_EQ(reducer.num_buckets(), 3u);
  for (const Tensor& p : params) {
    const std::vector<double> value = p.to_vector(), grad = p.grad().to_vector();
    for (std::size_t k = 0; k < value.size(); ++k) EXPECT_EQ(grad[k], 0.5 * value[k]) << k;  // exact: 0.5
  }
  reducer.reduce(params, 2.0);  // the same plan again: back to the values
  for (const Tensor& p : params) EXPECT_EQ(p.grad().to_vector(), p.to_vector());
}

TEST(GradReducer, GivesAParameterWithoutGradientAZeroOne) {
  auto comm = make_communicator("single");
  GradReducer reducer(*comm, 1 << 20);
  Tensor p = Tensor::zeros({3}, DType::Float32);
  p.set_requires_grad();
  const std::vector<Tensor> params{p};
  reducer.reduce(params, 1.0);
  ASSERT_TRUE(p.grad().defined());
  EXPECT_EQ(p.grad().to_vector(), std::vector<double>(3, 0.0));
}

}  // namespace
}  // namespace gn::nn
