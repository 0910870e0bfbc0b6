#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gn {

using Shape = std::vector<std::int64_t>;

// The element count; throws naming the shape when a dimension is negative or the product overflows.
std::int64_t numel(const Shape& s);
// a * b for counts (a, b >= 0); throws, naming `what`, on overflow.
std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what);
std::string to_string(const Shape& s);  // "(2, 3)"
// Numpy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Normalises a possibly negative axis; throws naming `op` if out of range.
int normalize_axis(std::int64_t axis, std::size_t ndim, const char* op);

}  // namespace gn
