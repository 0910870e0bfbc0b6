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
#include <functional>
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
  std::vector<std::int64_t> dims;   // MATLAB order (rows first)
  std::int64_t numel() const;       // throws when the product overflows int64
  std::string dims_string() const;  // "480x640x3x1449"
};

// A numeric array's values converted to double (exact for every class up to 32-bit integers and single),
// with its info; values are in column-major order.
struct MatArray {
  MatVarInfo info;
  std::vector<double> values;
};

// What the converter reads from a .mat file (convert.h). MatFile is the real one (libmatio); the .mat
// conversion's fuzzer (fuzz/mat_convert.cpp) gives an in-memory one, so that it exercises our checks and not
// libmatio's parser. Every error names the file (and the variable).
class MatSource {
 public:
  virtual ~MatSource() = default;
  virtual const std::filesystem::path& path() const = 0;
  virtual std::string version() const = 0;  // "v7.3 (HDF5)", "v5", "v4"

  // The variable's class and dims without reading its data; empty when the file has no such variable.
  virtual std::optional<MatVarInfo> info(const std::string& name) = 0;
  // A whole real numeric variable (throws when missing, non-numeric or complex).
  virtual MatArray read(const std::string& name) = 0;
  // A real numeric field of a 1x1 struct variable (MATLAB's struct.field).
  virtual MatArray read_field(const std::string& struct_name, const std::string& field) = 0;
  // A hyperslab of a real numeric variable: start and count per dimension (MATLAB order, rank = the
  // variable's rank); values column-major over the slab, converted to double.
  virtual std::vector<double> read_slab(const std::string& name, const std::vector<std::int64_t>& start,
                                        const std::vector<std::int64_t>& count) = 0;
};

// One open .mat file, read only, through libmatio; also libmatio's own message when it printed one.
class MatFile final : public MatSource {
 public:
  explicit MatFile(const std::filesystem::path& path);  // throws when missing or not a .mat file
  ~MatFile() override;
  MatFile(const MatFile&) = delete;
  MatFile& operator=(const MatFile&) = delete;

  const std::filesystem::path& path() const override { return path_; }
  std::string version() const override;
  std::optional<MatVarInfo> info(const std::string& name) override;
  MatArray read(const std::string& name) override;
  MatArray read_field(const std::string& struct_name, const std::string& field) override;
  std::vector<double> read_slab(const std::string& name, const std::vector<std::int64_t>& start,
                                const std::vector<std::int64_t>& count) override;

 private:
  std::filesystem::path path_;
  void* mat_ = nullptr;  // mat_t*
};

// Opens a .mat source by path (throws like MatFile's constructor).
using MatOpener = std::function<std::unique_ptr<MatSource>(const std::filesystem::path&)>;
std::unique_ptr<MatSource> open_mat_file(const std::filesystem::path& path);  // a MatFile

}  // namespace gn::nyuv2
