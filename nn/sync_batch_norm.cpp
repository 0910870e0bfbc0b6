#include "nn/sync_batch_norm.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "nn/batch_norm.h"

namespace gn::nn {

namespace {

void check_vector(const Tensor& v, std::int64_t C, const Tensor& x, const char* what) {
  if (!v.defined()) return;
  GN_CHECK(v.dim() == 1 && v.size(0) == C && v.dtype() == x.dtype() && v.device() == x.device(),
           "sync_batch_norm: {} must be ({}) {} on {}, got {} {} on {}", what, C, dtype_name(x.dtype()),
           to_string(x.device()), to_string(v.shape()), dtype_name(v.dtype()), to_string(v.device()));
}

// Channel c of sample n: x + (n * C + c) * S.
template <class T, class F>
void for_channel(const T* x, std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t c, F&& f) {
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t at = (n * C + c) * S;
    for (std::int64_t i = 0; i < S; ++i) f(at + i, static_cast<double>(x[at + i]));
  }
}

template <class T>
Tensor forward(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
               const Tensor& bias, double momentum, double eps, Communicator& comm) {
  const std::int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  const T* xp = x.data<T>();
  // (count, sum_c, sum of squares_c) over this rank's values, then over every rank's.
  std::vector<double> stats(static_cast<std::size_t>(1 + 2 * C), 0.0);
  stats[0] = static_cast<double>(N * S);
  for (std::int64_t c = 0; c < C; ++c)
    for_channel(xp, N, C, S, c, [&](std::int64_t, double v) {
      stats[static_cast<std::size_t>(1 + c)] += v;
      stats[static_cast<std::size_t>(1 + C + c)] += v * v;
    });
  comm.all_reduce_sum(stats);
  const double M = stats[0], share = static_cast<double>(N * S) / M;  // s_r
  GN_CHECK(M > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks, got {}", M);
  // The backward uses the statistics rounded to T, as batch_norm's kernel does (it saves them as T): the
  // same arithmetic as one process, so N ranks differ from it by summation order alone.
  std::vector<double> mean(static_cast<std::size_t>(C)), invstd(static_cast<std::size_t>(C));
  std::vector<double> saved_mean(static_cast<std::size_t>(C)), saved_invstd(static_cast<std::size_t>(C));
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  T* yp = y.data<T>();
  const T* w = weight.defined() ? weight.data<T>() : nullptr;
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  for (std::int64_t c = 0; c < C; ++c) {
    const auto k = static_cast<std::size_t>(c);
    const double m = stats[1 + k] / M, var = std::max(stats[1 + C + k] / M - m * m, 0.0);
    mean[k] = m;
    invstd[k] = 1.0 / std::sqrt(var + eps);
    saved_mean[k] = static_cast<double>(static_cast<T>(m));
    saved_invstd[k] = static_cast<double>(static_cast<T>(invstd[k]));
    if (running_mean.defined()) {
      T& r = running_mean.data<T>()[c];
      r = static_cast<T>((1.0 - momentum) * static_cast<double>(r) + momentum * m);
      T& v = running_var.data<T>()[c];
      v = static_cast<T>((1.0 - momentum) * static_cast<double>(v) + momentum * var * M / (M - 1));
    }
    // y = x scale + shift in T, with scale and shift rounded to T: batch_norm's kernel's arithmetic.
    const double wc = w != nullptr ? static_cast<double>(w[c]) : 1.0,
                 bc = b != nullptr ? static_cast<double>(b[c]) : 0.0;
    const T scale = static_cast<T>(wc * invstd[k]), shift = static_cast<T>(bc - m * wc * invstd[k]);
    for (std::int64_t n = 0; n < N; ++n) {
      const T* xr = xp + (n * C + c) * S;
      T* yr = yp + (n * C + c) * S;
      for (std::int64_t i = 0; i < S; ++i) yr[i] = xr[i] * scale + shift;
    }
  }
  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  return record(
      y, "sync_batch_norm", std::move(inputs),
      [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), has_b = bias.defined(),
       mean = std::move(saved_mean), invstd = std::move(saved_invstd), share, N, C, S, &comm](const Tensor& gy) {
        // This rank's sum dy and sum dy * xhat per channel (the bias and weight gradients), then the
        // global ones in the step's convention: sum_r s_r (...)_r / s_this.
        const T* g = gy.data<T>();
        const T* xv = x.data<T>();
        std::vector<double> sums(static_cast<std::size_t>(2 * C), 0.0);
        for (std::int64_t c = 0; c < C; ++c) {
          const auto k = static_cast<std::size_t>(c);
          for_channel(g, N, C, S, c, [&](std::int64_t at, double d) {
            sums[k] += d;
            sums[C + k] += d * (static_cast<double>(xv[at]) - mean[k]) * invstd[k];
          });
        }
        Tensor gb = Tensor::empty({C}, gy.dtype(), gy.device()), gw = Tensor::empty({C}, gy.dtype(), gy.device());
        for (std::int64_t c = 0; c < C; ++c) {
          gb.data<T>()[c] = static_cast<T>(sums[static_cast<std::size_t>(c)]);
          gw.data<T>()[c] = static_cast<T>(sums[static_cast<std::size_t>(C + c)]);
        }
        std::vector<double> global = sums;
        for (double& v : global) v *= share;
        comm.all_reduce_sum(global);
        Tensor gx = Tensor::empty(x.shape(), gy.dtype(), gy.device());
        T* o = gx.data<T>();
        const double local = static_cast<double>(N * S);  // s_r M: dividing by it divides by s_r and by M
        for (std::int64_t c = 0; c < C; ++c) {
          const auto k = static_cast<std::size_t>(c);
          const double wk = w.defined() ? static_cast<double>(w.data<T>()[c]) : 1.0, scale = wk * invstd[k];
          const double mg = global[k] / local, mgx = global[C + k] / local;
          for_channel(g, N, C, S, c, [&](std::int64_t at, double d) {
            const double xhat = (static_cast<double>(xv[at]) - mean[k]) * invstd[k];
            o[at] = static_cast<T>(scale * (d - mg - xhat * mgx));
          });
        }
        std::vector<Tensor> grads{gx};
        if (w.defined()) grads.push_back(gw);
        if (has_b) grads.push_back(gb);
        return grads;
      });
}

}  // namespace

Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps, Communicator& comm) {
  GN_CHECK(x.defined() && x.dim() >= 2 && x.size(0) > 0 && x.size(1) > 0,
           "sync_batch_norm: expects an input (N, C, ...) with N, C >= 1, got {}",
           x.defined() ? to_string(x.shape()) : std::string("an undefined tensor"));
  GN_CHECK(x.device().is_cpu(),
           "sync_batch_norm: CPU tensors only (data-parallel ranks run on the CPU here), got a tensor on {}",
           to_string(x.device()));
  GN_CHECK(running_mean.defined() == running_var.defined(),
           "sync_batch_norm: running_mean and running_var must both be given or both be undefined");
  GN_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, "sync_batch_norm: eps {} must be > 0 and momentum {} in [0, 1]",
           eps, momentum);
  const std::int64_t C = x.size(1);
  check_vector(running_mean, C, x, "running_mean");
  check_vector(running_var, C, x, "running_var");
  check_vector(weight, C, x, "weight");
  check_vector(bias, C, x, "bias");
  Tensor y;
  GN_DISPATCH_FLOAT(x.dtype(), "sync_batch_norm",
                    [&] { y = forward<scalar_t>(x, running_mean, running_var, weight, bias, momentum, eps, comm); });
  return y;
}

int sync_batch_norms(Module& root, Communicator* comm) {
  int n = 0;
  if (auto* bn = dynamic_cast<BatchNorm2d*>(&root)) {
    bn->set_sync(comm);
    ++n;
  }
  for (const auto& [name, child] : root.named_children()) n += sync_batch_norms(*child, comm);
  return n;
}

}  // namespace gn::nn
