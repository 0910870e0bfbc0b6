#include "tests/core/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"

namespace gn_test {
namespace {

constexpr int kMaxReported = 8;

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Element j of a CPU float tensor, read and written in place (set returns the value actually stored).
double get_at(const gn::Tensor& t, std::int64_t j) {
  return t.dtype() == gn::DType::Float64 ? t.data<double>()[j] : static_cast<double>(t.data<float>()[j]);
}
double set_at(const gn::Tensor& t, std::int64_t j, double value) {
  if (t.dtype() == gn::DType::Float64) return t.data<double>()[j] = value;
  return static_cast<double>(t.data<float>()[j] = static_cast<float>(value));
}

}  // namespace

double default_tolerance(gn::DType dtype) { return dtype == gn::DType::Float64 ? 1e-6 : 2e-2; }
double default_step(gn::DType dtype) { return dtype == gn::DType::Float64 ? 1e-6 : 1e-3; }

::testing::AssertionResult gradcheck(const TensorFn& f, const std::vector<gn::Tensor>& inputs,
                                     GradCheckOptions options) {
  // Fresh leaves, so the caller's tensors are never perturbed or given gradients.
  std::vector<gn::Tensor> xs;
  std::vector<gn::Tensor> vars;
  std::vector<std::size_t> var_index;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    gn::Tensor x = inputs[i].clone();
    if (gn::is_floating(x.dtype())) {
      const auto v = x.to_vector();
      if (!v.empty() && std::all_of(v.begin(), v.end(), [](double e) { return e == 0.0; }))
        return ::testing::AssertionFailure() << "gradcheck: input " << i << " is all zeros (a weak check)";
      x.set_requires_grad();
      vars.push_back(x);
      var_index.push_back(i);
    }
    xs.push_back(x);
  }
  if (vars.empty()) return ::testing::AssertionFailure() << "gradcheck: no floating input to check";
  const gn::DType dtype = vars[0].dtype();
  const double h = options.h > 0 ? options.h : default_step(dtype);
  const double atol = options.atol > 0 ? options.atol : default_tolerance(dtype);
  const double rtol = options.rtol > 0 ? options.rtol : default_tolerance(dtype);

  // Analytic: L = sum(f(x) * R).
  const gn::Tensor y = f(xs);
  if (!y.requires_grad()) return ::testing::AssertionFailure() << "gradcheck: f's output does not require grad";
  gn::Generator gen(options.seed);
  const gn::Tensor r = gn::Tensor::randn(y.shape(), gen, 0, 1, y.dtype());
  const std::vector<double> rv = r.to_vector();
  const gn::Tensor loss = gn::sum(gn::mul(y, r));
  const gn::Tensor loss_arr[] = {loss};
  const std::vector<gn::Tensor> analytic = gn::grad(loss_arr, vars);

  // backward() must accumulate the same numbers into the leaves.
  gn::backward(loss);
  std::ostringstream err;
  int bad = 0;
  for (std::size_t v = 0; v < vars.size(); ++v) {
    const gn::Tensor leaf_grad = vars[v].grad();
    const std::vector<double> a = analytic[v].to_vector();
    const std::vector<double> b = leaf_grad.defined() ? leaf_grad.to_vector() : std::vector<double>(a.size(), 0.0);
    if (analytic[v].shape() != vars[v].shape())
      return ::testing::AssertionFailure()
             << "gradcheck: grad() of input " << var_index[v] << " has shape " << gn::to_string(analytic[v].shape())
             << ", input has " << gn::to_string(vars[v].shape());
    for (std::size_t j = 0; j < a.size(); ++j)
      if (std::abs(a[j] - b[j]) > 1e-12 * (1 + std::abs(a[j])) && bad++ < kMaxReported)
        err << "\n  input " << var_index[v] << " element " << j << ": grad() " << a[j] << " vs backward() " << b[j];
  }

  // Numeric: central differences on L evaluated in double on the host.
  gn::NoGradGuard no_grad;
  auto eval = [&] { return dot(f(xs).to_vector(), rv); };
  for (std::size_t v = 0; v < vars.size(); ++v) {
    const std::vector<double> a = analytic[v].to_vector();
    for (std::int64_t j = 0; j < vars[v].numel(); ++j) {
      const double x0 = get_at(vars[v], j);
      const double x_plus = set_at(vars[v], j, x0 + h);  // float32 rounds: use the points actually taken
      const double l_plus = eval();
      const double x_minus = set_at(vars[v], j, x0 - h);
      const double l_minus = eval();
      set_at(vars[v], j, x0);
      const double numeric = (l_plus - l_minus) / (x_plus - x_minus);
      const double diff = std::abs(a[static_cast<std::size_t>(j)] - numeric);
      if (!(diff <= atol + rtol * std::abs(numeric)) && bad++ < kMaxReported)
        err << "\n  input " << var_index[v] << " " << gn::to_string(vars[v].shape()) << " element " << j
            << ": analytic " << a[static_cast<std::size_t>(j)] << " vs numeric " << numeric << " (|diff| " << diff
            << " > " << atol + rtol * std::abs(numeric) << ")";
    }
  }
  if (bad > 0)
    return ::testing::AssertionFailure() << "gradcheck: " << bad << " mismatching element(s) (h " << h << ", atol "
                                         << atol << ", rtol " << rtol << ")" << err.str();
  return ::testing::AssertionSuccess();
}

gn::Tensor uniform(const gn::Shape& shape, gn::Generator& gen, double low, double high, gn::DType dtype) {
  return gn::Tensor::uniform(shape, gen, low, high, dtype);
}

gn::Tensor away_from_zero(const gn::Shape& shape, gn::Generator& gen, double min_abs, double max_abs, gn::DType dtype) {
  std::vector<double> v(static_cast<std::size_t>(gn::numel(shape)));
  for (auto& e : v) {
    const double mag = min_abs + (max_abs - min_abs) * gen.uniform();
    e = gen.uniform() < 0.5 ? -mag : mag;
  }
  return gn::Tensor::from_vector(v, shape, dtype);
}

::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                     double atol, double rtol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs expected " << expected.size();
  std::ostringstream err;
  int bad = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double tol = atol + rtol * std::abs(expected[i]);
    if (!(std::abs(actual[i] - expected[i]) <= tol) && bad++ < kMaxReported)
      err << "\n  element " << i << ": " << actual[i] << " vs expected " << expected[i] << " (tol " << tol << ")";
  }
  if (bad > 0) return ::testing::AssertionFailure() << bad << " element(s) differ" << err.str();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_close(const gn::Tensor& actual, const std::vector<double>& expected, double atol,
                                     double rtol) {
  return all_close(actual.to_vector(), expected, atol, rtol);
}

::testing::AssertionResult throws_error_with(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const gn::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts)
      if (msg.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << msg << "\" lacks \"" << p << "\"";
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-gn::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace gn_test
