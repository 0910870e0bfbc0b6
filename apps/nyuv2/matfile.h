#pragma once
// MATLAB .mat files (v4, v5, v7.3 = HDF5), read through libmatio. All of libmatio lives in matfile.cpp; a
// build without it (GN_HAVE_MATIO = 0) compiles a stub whose MatFile constructor throws "built without
// libmatio", so everything else still builds.
//
// Dims are reported in MATLAB's order, which is column-major: dims[0] is the number of rows, and element
// (i0, i1, ..., ik) of a slab sits at i0 + d0 * (i1 + d1 * (i2 + ...)). (HDF5 tools such as h5py show a
// v7.3 file's axes reversed.) MATLAB drops trailing singleton dimensions: a 480x640x1 array reports rank 2.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gn::nyuv2 {

// Whether this build has libmatio (false: MatFile's constructor throws).
bool matio_available();

enum class MatClass : std::uint8_t {
  Double,
  Single,
  Int8,
  UInt8,
  Int16,
  UInt16,
  Int32,
  UInt32,
  Int64,
  UInt64,
  Struct,
  Cell,
  Char,
  Other,  // not numeric: refused by the readers below
};
std::string_view mat_class_name(MatClass c);  // MATLAB's names: "double", "single", "uint8", "struct", ...
bool mat_class_is_numeric(MatClass c);
bool mat_class_is_integer(MatClass c);

struct MatVarInfo {
  MatClass cls = MatClass::Other;
  bool complex = false;
  std::vector<std::int64_t> dims;  // MATLAB order (rows first)
  std::int64_t numel() const;
  std::string dims_string() const;  // "480x640x3x1449"
};

// A numeric array's values converted to double (exact for every class up to 32-bit integers and single),
// with its info; values are in column-major order.
struct MatArray {
  MatVarInfo info;
  std::vector<double> values;
};

// One open .mat file, read only. Every error names the file (and the variable), plus libmatio's own
// message when it printed one.
class MatFile {
 public:
  explicit MatFile(const std::filesystem::path& path);  // throws when missing or not a .mat file
  ~MatFile();
  MatFile(const MatFile&) = delete;
  MatFile& operator=(const MatFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string version() const;  // "v7.3 (HDF5)", "v5", "v4"

  // The variable's class and dims without reading its data; empty when the file has no such variable.
  std::optional<MatVarInfo> info(const std::string& name);
  // A whole real numeric variable (throws when missing, non-numeric or complex).
  MatArray read(const std::string& name);
  // A real numeric field of a 1x1 struct variable (MATLAB's struct.field).
  MatArray read_field(const std::string& struct_name, const std::string& field);
  // A hyperslab of a real numeric variable: start and count per dimension (MATLAB order, rank = the
  // variable's rank); values column-major over the slab, converted to double.
  std::vector<double> read_slab(const std::string& name, const std::vector<std::int64_t>& start,
                                const std::vector<std::int64_t>& count);

 private:
  std::filesystem::path path_;
  void* mat_ = nullptr;  // mat_t*
};

}  // namespace gn::nyuv2
