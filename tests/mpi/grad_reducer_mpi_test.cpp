// nn::GradReducer over real MPI ranks (linked into test_mpi, run with 2 and 3 ranks): the overlapped mode gives
// bit for bit the rank-order sum that reduce() gives, while every rank marks its gradients ready in a
// DIFFERENT order. Starting buckets in ready order would make the ranks' collectives disagree (the
// communicator's shape check throws) or pair the wrong buckets; the fixed bucket order keeps them in lockstep.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include "core/communicator.h"
#include "nn/grad_reducer.h"

namespace gn {
namespace {

// Rank r's gradient element i of parameter k: both signs, a wide range, so the summation order shows.
double grad_value(int rank, std::size_t k, std::int64_t i) {
  const double x = std::sin(0.37 * static_cast<double>(i) + 1.1 * rank + 0.7 * static_cast<double>(k));
  return x * std::pow(10.0, static_cast<double>((i * 5 + rank * 3 + static_cast<std::int64_t>(k)) % 13) - 6);
}

// Mixed sizes and dtypes: several buckets of 256 bytes, one parameter larger than a bucket.
std::vector<Tensor> make_params(int rank) {
  const std::vector<std::pair<std::int64_t, DType>> spec{
      {7, DType::Float32},  {100, DType::Float32}, {3, DType::Float64},  {20, DType::Float64},
      {33, DType::Float32}, {1, DType::Float32},   {64, DType::Float32}, {5, DType::Float32}};
  std::vector<Tensor> params;
  for (std::size_t k = 0; k < spec.size(); ++k) {
    const auto [n, dtype] = spec[k];
    std::vector<double> g(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) g[static_cast<std::size_t>(i)] = grad_value(rank, k, i);
    Tensor p = Tensor::zeros({n}, dtype).set_requires_grad();
    p.set_grad(Tensor::from_vector(g, {n}, dtype));
    params.push_back(p);
  }
  return params;
}

TEST(GradReducerMpi, OverlappedEqualsReduceWhateverOrderEachRankIsReadyIn) {
  auto comm = make_communicator("mpi");
  const int rank = comm->rank(), size = comm->size();
  const double scale = 1.0 / 3;
  const std::vector<Tensor> a = make_params(rank), b = make_params(rank);
  nn::GradReducer plain(*comm, 256), overlapped(*comm, 256);
  plain.reduce(a, scale);

  // Each rank its own ready order: a rotation of the list by the rank, every other one reversed.
  std::vector<std::size_t> order(b.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::rotate(order.begin(), order.begin() + (2 * rank + 1) % static_cast<int>(order.size()), order.end());
  if (rank % 2 == 1) std::reverse(order.begin(), order.end());
  overlapped.begin(b, scale);
  for (std::size_t i = 0; i + 1 < order.size(); ++i) overlapped.mark_ready(order[i]);
  overlapped.finish();  // marks the last one
  EXPECT_GT(overlapped.num_buckets(), 3u);

  for (std::size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].grad().to_vector(), b[k].grad().to_vector()) << "parameter " << k << " on rank " << rank;
    // And both are the rank-order sum of the scaled gradients, in the parameter's dtype.
    const std::vector<double> got = b[k].grad().to_vector();
    for (std::int64_t i = 0; i < b[k].numel(); ++i) {
      if (b[k].dtype() == DType::Float32) {
        float sum = static_cast<float>(grad_value(0, k, i)) * static_cast<float>(scale);
        for (int r = 1; r < size; ++r) sum += static_cast<float>(grad_value(r, k, i)) * static_cast<float>(scale);
        EXPECT_EQ(static_cast<float>(got[static_cast<std::size_t>(i)]), sum) << k << " " << i;
      } else {
        double sum = grad_value(0, k, i) * scale;
        for (int r = 1; r < size; ++r) sum += grad_value(r, k, i) * scale;
        EXPECT_EQ(got[static_cast<std::size_t>(i)], sum) << k << " " << i;
      }
    }
  }
}

}  // namespace
}  // namespace gn
