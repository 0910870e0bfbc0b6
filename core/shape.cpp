#include "core/shape.h"

#include "core/error.h"

namespace gn {

std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t out = 0;
  GN_CHECK(a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, &out), "{}: {} x {} overflows a 64-bit count", what, a, b);
  return out;
}

std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) {
    GN_CHECK(d >= 0, "shape {}: negative dimension", to_string(s));
    std::int64_t next = 0;
    GN_CHECK(!__builtin_mul_overflow(n, d, &next), "shape {}: the element count overflows a 64-bit integer",
             to_string(s));
    n = next;
  }
  return n;
}

std::string to_string(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    GN_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} cannot be broadcast together", op, to_string(a),
             to_string(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int normalize_axis(std::int64_t axis, std::size_t ndim, const char* op) {
  const auto n = static_cast<std::int64_t>(ndim);
  GN_CHECK(axis >= -n && axis < n, "{}: axis {} is out of range for a tensor with {} dims", op, axis, n);
  return static_cast<int>(axis < 0 ? axis + n : axis);
}

}  // namespace gn
