#pragma once
// Tensor: a handle (shared pointer) to a contiguous n-d array with autograd state. Copies of a Tensor
// alias the same data; views (reshape, slice along axis 0, detach) share the storage.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace gn {

class Generator;
struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (no autograd history; requires_grad off) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = cpu_device());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = cpu_device());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = cpu_device());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = cpu_device());
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = cpu_device());
  // Copies `values` (converted to dtype) into a new tensor of `shape`; sizes must agree.
  static Tensor from_vector(std::span<const double> values, const Shape& shape, DType dtype = DType::Float32,
                            Device device = cpu_device());
  static Tensor from_vector(std::span<const float> values, const Shape& shape, Device device = cpu_device());
  static Tensor from_labels(std::span<const std::int64_t> labels, const Shape& shape, Device device = cpu_device());
  // Seeded random tensors: same generator state, same numbers, on every run and machine.
  static Tensor randn(const Shape& shape, Generator& gen, double mean = 0, double stddev = 1,
                      DType dtype = DType::Float32, Device device = cpu_device());
  static Tensor uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype = DType::Float32,
                        Device device = cpu_device());

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t size(std::int64_t axis) const;
  std::int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

  // ---- raw data (device memory for CUDA tensors) ----
  void* raw_data() const;
  template <class T>
  T* data() const {
    GN_CHECK(dtype_of<T>() == dtype(), "data<{}>() on a {} tensor", dtype_name(dtype_of<T>()), dtype_name(dtype()));
    return static_cast<T*>(raw_data());
  }

  // ---- host access: copies device data to the host (a sync point on CUDA; only for logging/tests) ----
  std::vector<double> to_vector() const;
  double item() const;  // numel must be 1

  // ---- conversions and copies (not recorded by autograd) ----
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor clone() const;
  void copy_(const Tensor& src);  // same shape, dtype and device
  void fill_(double value);

  // ---- views (recorded by autograd) ----
  Tensor reshape(const Shape& shape) const;                  // one axis may be -1
  Tensor slice(std::int64_t begin, std::int64_t end) const;  // rows [begin, end) of axis 0

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);  // leaves only
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  Tensor grad() const;  // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g);
  Tensor detach() const;  // same storage, no history, requires_grad off

  TensorImpl* impl() const { return impl_.get(); }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // elements from the storage start (views)
  Shape shape;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  Tensor grad;                    // accumulated by backward() on leaves
};

// Shape/dtype/device checks shared by ops: each throws naming `op` and what it got.
void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op);
void check_defined(const Tensor& t, const char* op, const char* what);

}  // namespace gn
