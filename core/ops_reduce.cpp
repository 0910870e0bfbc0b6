// sum and mean, over everything or along one axis; backward broadcasts the gradient back.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace gn {
namespace {

// x viewed as (outer, n, inner) around `axis`.
struct AxisView {
  std::int64_t outer = 1, n = 1, inner = 1;
};
AxisView view_around(const Shape& s, int axis) {
  AxisView v;
  for (int k = 0; k < static_cast<int>(s.size()); ++k) (k < axis ? v.outer : k == axis ? v.n : v.inner) *= s[k];
  return v;
}

// scale * sum over the middle axis of (outer, n, inner); backward broadcasts g * scale back.
Tensor reduce_middle(const Tensor& x, AxisView v, Shape out_shape, double scale, const char* name) {
  check_floating(x, name);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  GN_DISPATCH_FLOAT(x.dtype(), name, [&] {
    const auto s = static_cast<scalar_t>(scale);
    if (v.outer == 1 && v.inner == 1)
      dispatch::sum_all<scalar_t>(x.device(), v.n, x.data<scalar_t>(), s, out.data<scalar_t>());
    else
      dispatch::sum_axis<scalar_t>(x.device(), v.outer, v.n, v.inner, x.data<scalar_t>(), s, out.data<scalar_t>());
  });
  return record(out, name, {x}, [in_shape = x.shape(), v, scale, name](const Tensor& g) {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    GN_DISPATCH_FLOAT(g.dtype(), name, [&] {
      dispatch::broadcast_axis<scalar_t>(g.device(), v.outer, v.n, v.inner, g.data<scalar_t>(),
                                         static_cast<scalar_t>(scale), gx.data<scalar_t>());
    });
    return std::vector<Tensor>{gx};
  });
}

Shape reduced_shape(const Shape& s, int axis, bool keepdim) {
  Shape out = s;
  if (keepdim)
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_middle(x, {1, x.numel(), 1}, {}, 1.0, "sum"); }

Tensor mean(const Tensor& x) {
  GN_CHECK(x.numel() > 0, "mean: tensor of shape {} is empty", to_string(x.shape()));
  return reduce_middle(x, {1, x.numel(), 1}, {}, 1.0 / static_cast<double>(x.numel()), "mean");
}

Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim) {
  const int a = normalize_axis(axis, x.shape().size(), "sum");
  return reduce_middle(x, view_around(x.shape(), a), reduced_shape(x.shape(), a, keepdim), 1.0, "sum");
}

Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim) {
  const int a = normalize_axis(axis, x.shape().size(), "mean");
  GN_CHECK(x.shape()[a] > 0, "mean: axis {} of shape {} is empty", axis, to_string(x.shape()));
  return reduce_middle(x, view_around(x.shape(), a), reduced_shape(x.shape(), a, keepdim),
                       1.0 / static_cast<double>(x.shape()[a]), "mean");
}

}  // namespace gn
