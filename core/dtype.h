#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gn {

enum class DType : std::uint8_t { Float32, Float64, Int64 };

constexpr std::size_t dtype_size(DType t) { return t == DType::Float32 ? 4 : 8; }
constexpr bool is_floating(DType t) { return t != DType::Int64; }
constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
  }
  return "?";
}

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::Int64;
}

}  // namespace gn

// Runs the body with `scalar_t` bound to the C++ type of a floating dtype; names the op on failure.
#define GN_DISPATCH_FLOAT(dtype, op_name, ...)                                                                    \
  [&] {                                                                                                           \
    switch (dtype) {                                                                                              \
      case ::gn::DType::Float32: {                                                                                \
        using scalar_t = float;                                                                                   \
        return __VA_ARGS__();                                                                                     \
      }                                                                                                           \
      case ::gn::DType::Float64: {                                                                                \
        using scalar_t = double;                                                                                  \
        return __VA_ARGS__();                                                                                     \
      }                                                                                                           \
      default:                                                                                                    \
        GN_FAIL("{}: dtype {} is not supported (float32 or float64 expected)", op_name, ::gn::dtype_name(dtype)); \
    }                                                                                                             \
  }()
