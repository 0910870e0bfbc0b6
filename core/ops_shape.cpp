// Views (reshape, slice) share storage; transpose, concat and split copy.
#include <numeric>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace gn {
namespace {

Tensor view_of(const Tensor& x, std::int64_t offset_elems, Shape shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->offset = x.impl()->offset + offset_elems;
  impl->shape = std::move(shape);
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

Shape infer_shape(const Shape& requested, std::int64_t n) {
  Shape out = requested;
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (out[k] == -1) {
      GN_CHECK(infer < 0, "reshape: more than one -1 in {}", to_string(requested));
      infer = static_cast<int>(k);
    } else {
      GN_CHECK(out[k] >= 0, "reshape: negative size in {}", to_string(requested));
      known = checked_mul(known, out[k], "reshape");
    }
  }
  if (infer >= 0) {
    GN_CHECK(known > 0 && n % known == 0, "reshape: cannot infer -1 in {} for {} elements", to_string(requested), n);
    out[infer] = n / known;
  }
  GN_CHECK(numel(out) == n, "reshape: shape {} has {} elements, the tensor has {}", to_string(out), numel(out), n);
  return out;
}

std::int64_t row_size(const Shape& s) {
  return std::accumulate(s.begin() + 1, s.end(), std::int64_t{1}, std::multiplies<>());
}

// Views of x around `axis`: (outer, x.shape[axis] * inner) rows for the copy kernels.
std::int64_t outer_of(const Shape& s, int axis) {
  return std::accumulate(s.begin(), s.begin() + axis, std::int64_t{1}, std::multiplies<>());
}
std::int64_t inner_of(const Shape& s, int axis) {
  return std::accumulate(s.begin() + axis + 1, s.end(), std::int64_t{1}, std::multiplies<>());
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined(x, "reshape", "input");
  Tensor out = view_of(x, 0, infer_shape(shape, x.numel()));
  return record(out, "reshape", {x},
                [in_shape = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(in_shape)}; });
}

Tensor slice(const Tensor& x, std::int64_t begin, std::int64_t end) {
  check_defined(x, "slice", "input");
  GN_CHECK(x.dim() >= 1, "slice: a 0-d tensor has no axis 0");
  GN_CHECK(0 <= begin && begin <= end && end <= x.shape()[0], "slice: rows [{}, {}) out of range for shape {}", begin,
           end, to_string(x.shape()));
  Shape shape = x.shape();
  shape[0] = end - begin;
  const std::int64_t row = row_size(x.shape());
  Tensor out = view_of(x, begin * row, shape);
  return record(out, "slice", {x}, [in_shape = x.shape(), begin, row](const Tensor& g) {
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    const std::size_t elem = dtype_size(g.dtype());
    dispatch::copy_rows(g.device(), 1, g.numel(), elem, g.raw_data(), 0,
                        static_cast<char*>(gx.raw_data()) + begin * row * elem, 0);
    return std::vector<Tensor>{gx};
  });
}

Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1) {
  check_defined(x, "transpose", "input");
  const int a0 = normalize_axis(axis0, x.shape().size(), "transpose");
  const int a1 = normalize_axis(axis1, x.shape().size(), "transpose");
  Shape out_shape = x.shape();
  std::swap(out_shape[a0], out_shape[a1]);
  std::vector<std::int64_t> in_strides(x.shape().size());
  for (std::int64_t k = x.dim() - 1, stride = 1; k >= 0; stride *= x.shape()[k], --k) in_strides[k] = stride;
  std::swap(in_strides[a0], in_strides[a1]);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  dispatch::strided_copy(x.device(), dtype_size(x.dtype()), x.raw_data(), in_strides, out.raw_data(), out_shape);
  return record(out, "transpose", {x}, [a0, a1](const Tensor& g) { return std::vector<Tensor>{transpose(g, a0, a1)}; });
}

Tensor concat(std::span<const Tensor> xs, std::int64_t axis) {
  GN_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  check_defined(first, "concat", "input 0");
  const int a = normalize_axis(axis, first.shape().size(), "concat");
  Shape out_shape = first.shape();
  out_shape[a] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    check_same_dtype_device(first, xs[i], "concat");
    Shape expect = first.shape(), got = xs[i].shape();
    GN_CHECK(got.size() == expect.size(), "concat: input {} has shape {}, input 0 has {}", i, to_string(got),
             to_string(expect));
    expect[a] = got[a];
    GN_CHECK(got == expect, "concat: input {} has shape {}, which differs from input 0's {} off axis {}", i,
             to_string(got), to_string(first.shape()), a);
    out_shape[a] += got[a];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  const std::int64_t outer = outer_of(out_shape, a), inner = inner_of(out_shape, a);
  const std::size_t elem = dtype_size(first.dtype());
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes;
  for (const auto& x : xs) {
    const std::int64_t width = x.shape()[a] * inner;
    dispatch::copy_rows(x.device(), outer, width, elem, x.raw_data(), width,
                        static_cast<char*>(out.raw_data()) + offset * elem, out_shape[a] * inner);
    offset += width;
    sizes.push_back(x.shape()[a]);
  }
  return record(out, "concat", {xs.begin(), xs.end()}, [sizes, a](const Tensor& g) { return split(g, sizes, a); });
}

std::vector<Tensor> split(const Tensor& x, std::span<const std::int64_t> sizes, std::int64_t axis) {
  check_defined(x, "split", "input");
  const int a = normalize_axis(axis, x.shape().size(), "split");
  const std::int64_t total = std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0});
  GN_CHECK(total == x.shape()[a], "split: sizes add up to {}, but axis {} of shape {} has {}", total, a,
           to_string(x.shape()), x.shape()[a]);
  const std::int64_t outer = outer_of(x.shape(), a), inner = inner_of(x.shape(), a);
  const std::size_t elem = dtype_size(x.dtype());
  std::vector<Tensor> outs;
  std::int64_t offset = 0;  // in elements within one outer row
  for (std::int64_t size : sizes) {
    GN_CHECK(size >= 0, "split: negative size {}", size);
    Shape shape = x.shape();
    shape[a] = size;
    Tensor out = Tensor::empty(shape, x.dtype(), x.device());
    const std::int64_t width = size * inner, row = x.shape()[a] * inner;
    dispatch::copy_rows(x.device(), outer, width, elem, static_cast<const char*>(x.raw_data()) + offset * elem, row,
                        out.raw_data(), width);
    outs.push_back(record(out, "split", {x}, [in_shape = x.shape(), outer, width, row, offset, elem](const Tensor& g) {
      Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
      dispatch::copy_rows(g.device(), outer, width, elem, g.raw_data(), width,
                          static_cast<char*>(gx.raw_data()) + offset * elem, row);
      return std::vector<Tensor>{gx};
    }));
    offset += width;
  }
  return outs;
}

}  // namespace gn
