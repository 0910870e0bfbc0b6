#include "core/tensor.h"

#include <cstring>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "core/rng.h"
#ifdef GN_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace gn {
namespace {

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef GN_WITH_CUDA
  if (dst_dev.is_cuda() && src_dev.is_cpu()) return cuda::memcpy_host_to_device(dst, src, bytes);
  if (dst_dev.is_cpu() && src_dev.is_cuda()) return cuda::memcpy_device_to_host(dst, src, bytes);
  return cuda::memcpy_device_to_device(dst, src, bytes);
#else
  GN_FAIL("copy between {} and {}: {}", to_string(src_dev), to_string(dst_dev), cuda_unavailable_reason());
#endif
}

template <class T>
void convert_from_double(const double* src, T* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
}

// Builds a tensor on the host from doubles, then moves it to `device`.
Tensor host_tensor_from_doubles(std::span<const double> values, const Shape& shape, DType dtype, Device device) {
  Tensor host = Tensor::empty(shape, dtype, cpu_device());
  const auto n = static_cast<std::int64_t>(values.size());
  switch (dtype) {
    case DType::Float32:
      convert_from_double(values.data(), host.data<float>(), n);
      break;
    case DType::Float64:
      convert_from_double(values.data(), host.data<double>(), n);
      break;
    case DType::Int64:
      convert_from_double(values.data(), host.data<std::int64_t>(), n);
      break;
  }
  return device.is_cpu() ? host : host.to(device);
}

}  // namespace

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) GN_CHECK(d >= 0, "empty: negative dimension in shape {}", to_string(shape));
  const std::int64_t bytes =
      checked_mul(gn::numel(shape), static_cast<std::int64_t>(dtype_size(dtype)), "empty: the byte count");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(bytes), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(std::span<const double> values, const Shape& shape, DType dtype, Device device) {
  GN_CHECK(static_cast<std::int64_t>(values.size()) == gn::numel(shape),
           "from_vector: {} values do not fill shape {} ({} elements)", values.size(), to_string(shape),
           gn::numel(shape));
  return host_tensor_from_doubles(values, shape, dtype, device);
}

Tensor Tensor::from_vector(std::span<const float> values, const Shape& shape, Device device) {
  GN_CHECK(static_cast<std::int64_t>(values.size()) == gn::numel(shape),
           "from_vector: {} values do not fill shape {} ({} elements)", values.size(), to_string(shape),
           gn::numel(shape));
  Tensor host = empty(shape, DType::Float32, cpu_device());
  std::memcpy(host.raw_data(), values.data(), values.size_bytes());
  return device.is_cpu() ? host : host.to(device);
}

Tensor Tensor::from_labels(std::span<const std::int64_t> labels, const Shape& shape, Device device) {
  GN_CHECK(static_cast<std::int64_t>(labels.size()) == gn::numel(shape), "from_labels: {} labels do not fill shape {}",
           labels.size(), to_string(shape));
  Tensor host = empty(shape, DType::Int64, cpu_device());
  std::memcpy(host.raw_data(), labels.data(), labels.size_bytes());
  return device.is_cpu() ? host : host.to(device);
}

// A host tensor whose element i is draw() (computed in double, then converted), moved to `device`. The
// tensor is allocated first, so an impossible size fails with the allocator's clear error.
template <class Draw>
Tensor host_tensor_from_draws(const Shape& shape, DType dtype, Device device, Draw draw) {
  Tensor host = Tensor::empty(shape, dtype, cpu_device());
  GN_DISPATCH_FLOAT(dtype, "random tensor", [&] {
    scalar_t* p = host.data<scalar_t>();
    for (std::int64_t i = 0, n = host.numel(); i < n; ++i) p[i] = static_cast<scalar_t>(draw());
  });
  return device.is_cpu() ? host : host.to(device);
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, double mean, double stddev, DType dtype, Device device) {
  return host_tensor_from_draws(shape, dtype, device, [&] { return mean + stddev * gen.normal(); });
}

Tensor Tensor::uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype, Device device) {
  GN_CHECK(low <= high, "uniform: low {} > high {}", low, high);
  return host_tensor_from_draws(shape, dtype, device, [&] { return low + (high - low) * gen.uniform(); });
}

// ---- metadata ----

const Shape& Tensor::shape() const {
  GN_CHECK(defined(), "shape() of an undefined tensor");
  return impl_->shape;
}
std::int64_t Tensor::size(std::int64_t axis) const { return shape()[normalize_axis(axis, shape().size(), "size")]; }
std::int64_t Tensor::numel() const { return gn::numel(shape()); }
DType Tensor::dtype() const {
  GN_CHECK(defined(), "dtype() of an undefined tensor");
  return impl_->dtype;
}
Device Tensor::device() const {
  GN_CHECK(defined(), "device() of an undefined tensor");
  return impl_->storage->device();
}
void* Tensor::raw_data() const {
  GN_CHECK(defined(), "data() of an undefined tensor");
  return static_cast<char*>(impl_->storage->data()) +
         impl_->offset * static_cast<std::int64_t>(dtype_size(impl_->dtype));
}

// ---- host access ----

std::vector<double> Tensor::to_vector() const {
  const Tensor host = device().is_cpu() ? *this : to(cpu_device());
  std::vector<double> out(static_cast<std::size_t>(numel()));
  switch (dtype()) {
    case DType::Float32:
      std::copy_n(host.data<float>(), out.size(), out.begin());
      break;
    case DType::Float64:
      std::copy_n(host.data<double>(), out.size(), out.begin());
      break;
    case DType::Int64:
      std::copy_n(host.data<std::int64_t>(), out.size(), out.begin());
      break;
  }
  return out;
}

double Tensor::item() const {
  GN_CHECK(numel() == 1, "item(): tensor of shape {} has {} elements, not 1", to_string(shape()), numel());
  return to_vector()[0];
}

// ---- conversions ----

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor out = empty(shape(), dtype(), target);
  copy_bytes(out.raw_data(), target, raw_data(), device(), nbytes());
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  if (!is_floating(target) || !is_floating(dtype())) {
    GN_CHECK(device().is_cpu(), "to({}) from {} on {}: convert on the CPU", dtype_name(target), dtype_name(dtype()),
             to_string(device()));
    return from_vector(to_vector(), shape(), target, cpu_device());
  }
  Tensor out = empty(shape(), target, device());
  dispatch::cast(device(), numel(), dtype(), raw_data(), target, out.raw_data());
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_bytes(out.raw_data(), device(), raw_data(), device(), nbytes());
  return out;
}

void Tensor::copy_(const Tensor& src) {
  GN_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_: source {} {} does not match destination {} {}",
           to_string(src.shape()), dtype_name(src.dtype()), to_string(shape()), dtype_name(dtype()));
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

void Tensor::fill_(double value) {
  const std::int64_t n = numel();
  switch (dtype()) {
    case DType::Float32:
      return dispatch::fill<float>(device(), n, static_cast<float>(value), data<float>());
    case DType::Float64:
      return dispatch::fill<double>(device(), n, value, data<double>());
    case DType::Int64:
      if (!device().is_cpu()) return copy_(full(shape(), value, dtype(), cpu_device()));  // labels: filled on the host
      std::fill_n(data<std::int64_t>(), n, static_cast<std::int64_t>(value));
      return;
  }
}

// ---- views ----

Tensor Tensor::reshape(const Shape& new_shape) const { return gn::reshape(*this, new_shape); }
Tensor Tensor::slice(std::int64_t begin, std::int64_t end) const { return gn::slice(*this, begin, end); }

// ---- autograd ----

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }
Tensor& Tensor::set_requires_grad(bool on) {
  GN_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad (this one comes from {})",
           impl_->grad_fn->name);
  GN_CHECK(!on || is_floating(dtype()), "set_requires_grad: {} tensors cannot require grad", dtype_name(dtype()));
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::is_leaf() const {
  check_defined(*this, "is_leaf", "tensor");
  return impl_->grad_fn == nullptr;
}
const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined(*this, "grad_fn", "tensor");
  return impl_->grad_fn;
}
Tensor Tensor::grad() const {
  check_defined(*this, "grad", "tensor");
  return impl_->grad;
}
void Tensor::set_grad(const Tensor& g) {
  check_defined(*this, "set_grad", "tensor");
  if (g.defined()) {
    GN_CHECK(g.shape() == shape(), "set_grad: gradient of shape {} for a tensor of shape {}", to_string(g.shape()),
             to_string(shape()));
    check_same_dtype_device(*this, g, "set_grad");
  }
  impl_->grad = g;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

void check_defined(const Tensor& t, const char* op, const char* what) {
  GN_CHECK(t.defined(), "{}: {} is an undefined tensor", op, what);
}

void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op, "first operand");
  check_defined(b, op, "second operand");
  GN_CHECK(a.dtype() == b.dtype(), "{}: dtype mismatch ({} {} vs {} {}); convert explicitly with to(dtype)", op,
           dtype_name(a.dtype()), to_string(a.shape()), dtype_name(b.dtype()), to_string(b.shape()));
  GN_CHECK(a.device() == b.device(), "{}: device mismatch ({} vs {}); move tensors with to(device)", op,
           to_string(a.device()), to_string(b.device()));
}

}  // namespace gn
