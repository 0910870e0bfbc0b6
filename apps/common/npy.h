#pragma once
// NumPy .npy files: the format of the preprocessed NYUv2 layout that multitask codebases share (MTAN, LibMTL).
//
// Format (numpy/lib/format.py): the magic "\x93NUMPY", a major and a minor version byte, the header length
// (version 1.0: 2-byte little-endian; 2.0 and 3.0: 4-byte; 3.0 allows UTF-8 in the header), then the header,
// a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (288, 384, 3), } padded with spaces
// and ended by '\n', then the raw array data.
//
// Read: versions 1.0, 2.0 and 3.0; C order only; little-endian ('<', or '|' for one-byte types) float32
// ('<f4'), float64 ('<f8'), int64 ('<i8'), int32 ('<i4') and uint8 ('|u1'). Everything else is refused with
// a gn::Error that names the file and the problem: Fortran order, big-endian or native-order ('>', '='),
// object, string, structured and other dtypes, a truncated header or data, data longer than the header's
// shape says, and absurd shapes (more than 32 dimensions, negative sizes, element or byte counts that
// overflow). The data's bytes must be exactly numel * itemsize.
// Write: float32, float64 and int64 tensors, C order, version 1.0, atomically (PATH.tmp then a rename).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace gn::app {

// The dtypes a .npy file may hold here (the file's 'descr': '<f4', '<f8', '<i8', '<i4', '|u1').
enum class NpyType : std::uint8_t { Float32, Float64, Int64, Int32, UInt8 };
std::string_view npy_type_descr(NpyType t);  // "<f4", ...
std::size_t npy_type_size(NpyType t);

struct NpyHeader {
  int major = 1, minor = 0;  // format version
  NpyType type = NpyType::Float32;
  Shape shape;                  // as stored (C order)
  std::size_t data_offset = 0;  // bytes from the file start to the data
  std::size_t data_bytes = 0;   // numel * itemsize (checked against overflow)
};

// What to turn the stored values into.
//  - Float32 / Float64: any stored type, converted (images, depth, normals, heatmaps: Float32).
//  - Int64: integer types as they are; float types only when every value is an integer in int64's range
//    (labels are often stored as floats; a NaN or 2.5 is refused, naming the file and the element).
//  - std::nullopt: the stored type when the Tensor has it (f4, f8, i8), int64 for '<i4' and '|u1'.
using NpyConvert = std::optional<DType>;

struct NpyArray {
  NpyHeader header;  // the stored type and shape
  Tensor tensor;     // CPU, shape = header.shape, dtype as requested
};

// Parses the header alone from the start of a file (the data need not be present); `name` (a path, or any
// label) is named in every error. Refuses everything the file comment lists, except the data size check.
NpyHeader parse_npy_header(std::span<const std::byte> bytes, std::string_view name);
// Parses a whole file held in memory (no file access: the fuzz target's entry point).
NpyArray parse_npy(std::span<const std::byte> bytes, std::string_view name, NpyConvert as = std::nullopt);

// The same from a file; the error names the path and, for I/O failures, the system's reason.
NpyArray read_npy(const std::filesystem::path& path, NpyConvert as = std::nullopt);
// Only the header: reads the file's first bytes, not its data.
NpyHeader read_npy_header(const std::filesystem::path& path);

// The bytes of a .npy file (version 1.0, C order) holding `t` (float32, float64 or int64; copied to the CPU
// if needed); the header is padded so the data starts at a multiple of 64 bytes, as NumPy does.
std::string encode_npy(const Tensor& t);
// encode_npy written atomically (apps/common/writers.h's write_atomically): the directory must exist.
void write_npy(const std::filesystem::path& path, const Tensor& t);

}  // namespace gn::app
