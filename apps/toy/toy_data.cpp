#include "apps/toy/toy_data.h"

#include <cmath>

#include "core/rng.h"
#include "core/shape.h"
#include "kernels/cpu/gemm.h"

namespace gn::toy {

double ToyDataConfig::resolved_input_std() const {
  return input_std > 0 ? input_std
                       : 1.0 / std::sqrt(static_cast<double>(input_dim) * (b_std * b_std + eps_std * eps_std));
}

namespace {

// f_i(x) = sigma tanh(x M^T) for every row of x (N, in), task matrix M = B + eps_i (out, in); in double.
Tensor task_targets(const std::vector<double>& x, std::int64_t N, std::int64_t in, const std::vector<double>& M,
                    std::int64_t out, double sigma) {
  std::vector<double> y(static_cast<std::size_t>(checked_mul(N, out, "toy data: targets")));
  cpu::gemm<double>(false, true, N, out, in, 1.0, x.data(), M.data(), 0.0, y.data());
  for (auto& v : y) v = sigma * std::tanh(v);
  return Tensor::from_vector(y, {N, out}, DType::Float32);
}

// The network sees standardised inputs xhat ~ N(0, 1); the targets are computed from x = input_std * xhat.
ToySplit make_split(Generator& gen, std::int64_t N, const ToyDataConfig& c, const std::vector<std::vector<double>>& M) {
  std::vector<double> xhat(static_cast<std::size_t>(checked_mul(N, c.input_dim, "toy data: inputs")));
  for (auto& v : xhat) v = gen.normal();
  std::vector<double> x = xhat;
  for (auto& v : x) v *= c.resolved_input_std();
  ToySplit s;
  s.x = Tensor::from_vector(xhat, {N, c.input_dim}, DType::Float32);
  for (std::size_t i = 0; i < c.sigmas.size(); ++i)
    s.y.push_back(task_targets(x, N, c.input_dim, M[i], c.output_dim, c.sigmas[i]));
  return s;
}

}  // namespace

ToyData make_toy_data(const ToyDataConfig& c) {
  GN_CHECK(!c.sigmas.empty(), "toy data: needs at least one sigma");
  GN_CHECK(c.train_size > 0 && c.test_size > 0, "toy data: train and test sizes must be > 0");
  Generator gen(c.seed);
  const std::int64_t n_w = c.output_dim * c.input_dim;
  std::vector<double> B(static_cast<std::size_t>(n_w));
  for (auto& v : B) v = c.b_std * gen.normal();
  std::vector<std::vector<double>> M;
  for (std::size_t i = 0; i < c.sigmas.size(); ++i) {
    std::vector<double> m = B;
    for (auto& v : m) v += c.eps_std * gen.normal();
    M.push_back(std::move(m));
  }
  ToyData d;
  d.train = make_split(gen, c.train_size, c, M);
  d.test = make_split(gen, c.test_size, c, M);
  return d;
}

}  // namespace gn::toy
