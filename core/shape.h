#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gn {

using Shape = std::vector<std::int64_t>;

std::int64_t numel(const Shape& s);
std::string to_string(const Shape& s);  // "(2, 3)"
// Numpy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Normalises a possibly negative axis; throws naming `op` if out of range.
int normalize_axis(std::int64_t axis, std::size_t ndim, const char* op);

}  // namespace gn
