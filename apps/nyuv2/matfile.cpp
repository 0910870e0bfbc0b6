// libmatio behind one file (see matfile.h). Without libmatio (GN_HAVE_MATIO = 0) only the class helpers are
// real; MatFile's constructor throws.
#include "apps/nyuv2/matfile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <limits>
#include <mutex>

#include "core/error.h"
#include "core/shape.h"

#if GN_HAVE_MATIO
#include <matio.h>
#endif

namespace gn::nyuv2 {

std::string_view mat_class_name(MatClass c) {
  switch (c) {
    case MatClass::Double:
      return "double";
    case MatClass::Single:
      return "single";
    case MatClass::Int8:
      return "int8";
    case MatClass::UInt8:
      return "uint8";
    case MatClass::Int16:
      return "int16";
    case MatClass::UInt16:
      return "uint16";
    case MatClass::Int32:
      return "int32";
    case MatClass::UInt32:
      return "uint32";
    case MatClass::Int64:
      return "int64";
    case MatClass::UInt64:
      return "uint64";
    case MatClass::Struct:
      return "struct";
    case MatClass::Cell:
      return "cell";
    case MatClass::Char:
      return "char";
    case MatClass::Other:
      break;
  }
  return "another (non-numeric) class";
}

bool mat_class_is_numeric(MatClass c) { return c <= MatClass::UInt64; }
bool mat_class_is_integer(MatClass c) { return c >= MatClass::Int8 && c <= MatClass::UInt64; }

std::int64_t MatVarInfo::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n = checked_mul(n, d, "a .mat variable's element count");
  return n;
}

std::unique_ptr<MatSource> open_mat_file(const std::filesystem::path& path) { return std::make_unique<MatFile>(path); }

std::string MatVarInfo::dims_string() const { return fmt::format("{}", fmt::join(dims, "x")); }

#if GN_HAVE_MATIO

bool matio_available() { return true; }

namespace {

// libmatio reports problems through a log function (by default printed to stderr); the last message of this
// thread is kept and appended to our error.
thread_local std::string t_matio_message;

void capture_matio_log(int /*level*/, char* message) { t_matio_message = message ? message : ""; }

void install_logger() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("gradnorm", capture_matio_log); });
}

std::string matio_said() {
  std::string s = t_matio_message.empty() ? std::string() : fmt::format(" (libmatio: {})", t_matio_message);
  t_matio_message.clear();
  return s;
}

MatClass to_class(matio_classes c) {
  switch (c) {
    case MAT_C_DOUBLE:
      return MatClass::Double;
    case MAT_C_SINGLE:
      return MatClass::Single;
    case MAT_C_INT8:
      return MatClass::Int8;
    case MAT_C_UINT8:
      return MatClass::UInt8;
    case MAT_C_INT16:
      return MatClass::Int16;
    case MAT_C_UINT16:
      return MatClass::UInt16;
    case MAT_C_INT32:
      return MatClass::Int32;
    case MAT_C_UINT32:
      return MatClass::UInt32;
    case MAT_C_INT64:
      return MatClass::Int64;
    case MAT_C_UINT64:
      return MatClass::UInt64;
    case MAT_C_STRUCT:
      return MatClass::Struct;
    case MAT_C_CELL:
      return MatClass::Cell;
    case MAT_C_CHAR:
      return MatClass::Char;
    default:
      return MatClass::Other;
  }
}

MatVarInfo info_of(const matvar_t* v) {
  MatVarInfo info;
  info.cls = to_class(v->class_type);
  info.complex = v->isComplex != 0;
  for (int i = 0; i < v->rank; ++i) info.dims.push_back(static_cast<std::int64_t>(v->dims[i]));
  return info;
}

template <typename T>
void append_as_double(const void* data, std::size_t n, std::vector<double>& out) {
  const T* p = static_cast<const T*>(data);
  out.reserve(out.size() + n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<double>(p[i]));
}

// n values of class c at data, converted to double.
std::vector<double> to_doubles(MatClass c, const void* data, std::size_t n) {
  std::vector<double> out;
  switch (c) {
    case MatClass::Double:
      append_as_double<double>(data, n, out);
      break;
    case MatClass::Single:
      append_as_double<float>(data, n, out);
      break;
    case MatClass::Int8:
      append_as_double<std::int8_t>(data, n, out);
      break;
    case MatClass::UInt8:
      append_as_double<std::uint8_t>(data, n, out);
      break;
    case MatClass::Int16:
      append_as_double<std::int16_t>(data, n, out);
      break;
    case MatClass::UInt16:
      append_as_double<std::uint16_t>(data, n, out);
      break;
    case MatClass::Int32:
      append_as_double<std::int32_t>(data, n, out);
      break;
    case MatClass::UInt32:
      append_as_double<std::uint32_t>(data, n, out);
      break;
    case MatClass::Int64:
      append_as_double<std::int64_t>(data, n, out);
      break;
    case MatClass::UInt64:
      append_as_double<std::uint64_t>(data, n, out);
      break;
    default:
      GN_FAIL("internal: to_doubles on a non-numeric class");
  }
  return out;
}

struct VarDeleter {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};
using VarPtr = std::unique_ptr<matvar_t, VarDeleter>;

// A numeric, real array with its data loaded (from Mat_VarRead or a struct field), as a MatArray.
MatArray array_of(const matvar_t* v, const std::string& what, const std::filesystem::path& path) {
  MatArray a;
  a.info = info_of(v);
  GN_CHECK(mat_class_is_numeric(a.info.cls), "{}: variable '{}' is of class {}, not a numeric array", path.string(),
           what, mat_class_name(a.info.cls));
  GN_CHECK(!a.info.complex, "{}: variable '{}' is complex; a real array is needed", path.string(), what);
  const auto n = static_cast<std::size_t>(a.info.numel());
  GN_CHECK(n == 0 || v->data != nullptr, "{}: variable '{}': libmatio returned no data{}", path.string(), what,
           matio_said());
  if (n > 0) a.values = to_doubles(a.info.cls, v->data, n);
  return a;
}

}  // namespace

MatFile::MatFile(const std::filesystem::path& path) : path_(path) {
  install_logger();
  std::error_code ec;
  GN_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no such file", path.string());
  t_matio_message.clear();
  mat_ = Mat_Open(path.string().c_str(), MAT_ACC_RDONLY);
  GN_CHECK(mat_ != nullptr, "{}: cannot be opened as a MATLAB .mat file (v4, v5 or v7.3){}", path.string(),
           matio_said());
}

MatFile::~MatFile() {
  if (mat_) Mat_Close(static_cast<mat_t*>(mat_));
}

std::string MatFile::version() const {
  switch (Mat_GetVersion(static_cast<mat_t*>(mat_))) {
    case MAT_FT_MAT73:
      return "v7.3 (HDF5)";
    case MAT_FT_MAT5:
      return "v5";
    case MAT_FT_MAT4:
      return "v4";
    default:
      return "unknown";
  }
}

std::optional<MatVarInfo> MatFile::info(const std::string& name) {
  t_matio_message.clear();
  VarPtr v(Mat_VarReadInfo(static_cast<mat_t*>(mat_), name.c_str()));
  t_matio_message.clear();
  if (!v) return std::nullopt;
  return info_of(v.get());
}

MatArray MatFile::read(const std::string& name) {
  GN_CHECK(info(name).has_value(), "{}: has no variable '{}'", path_.string(), name);
  VarPtr v(Mat_VarRead(static_cast<mat_t*>(mat_), name.c_str()));
  GN_CHECK(v != nullptr, "{}: variable '{}' cannot be read{}", path_.string(), name, matio_said());
  return array_of(v.get(), name, path_);
}

MatArray MatFile::read_field(const std::string& struct_name, const std::string& field) {
  const std::optional<MatVarInfo> i = info(struct_name);
  GN_CHECK(i.has_value(), "{}: has no variable '{}'", path_.string(), struct_name);
  GN_CHECK(i->cls == MatClass::Struct, "{}: variable '{}' is of class {}, not a struct (with a field '{}')",
           path_.string(), struct_name, mat_class_name(i->cls), field);
  VarPtr v(Mat_VarRead(static_cast<mat_t*>(mat_), struct_name.c_str()));
  GN_CHECK(v != nullptr, "{}: variable '{}' cannot be read{}", path_.string(), struct_name, matio_said());
  GN_CHECK(info_of(v.get()).numel() == 1, "{}: variable '{}' is a {} struct array; a 1x1 struct is needed",
           path_.string(), struct_name, info_of(v.get()).dims_string());
  matvar_t* f = Mat_VarGetStructFieldByName(v.get(), field.c_str(), 0);
  GN_CHECK(f != nullptr, "{}: struct '{}' has no field '{}'", path_.string(), struct_name, field);
  return array_of(f, struct_name + "." + field, path_);  // f belongs to v
}

std::vector<double> MatFile::read_slab(const std::string& name, const std::vector<std::int64_t>& start,
                                       const std::vector<std::int64_t>& count) {
  t_matio_message.clear();
  VarPtr v(Mat_VarReadInfo(static_cast<mat_t*>(mat_), name.c_str()));
  GN_CHECK(v != nullptr, "{}: has no variable '{}'", path_.string(), name);
  const MatVarInfo i = info_of(v.get());
  GN_CHECK(mat_class_is_numeric(i.cls) && !i.complex, "{}: variable '{}' is of class {}{}, not a real numeric array",
           path_.string(), name, mat_class_name(i.cls), i.complex ? " (complex)" : "");
  const std::size_t rank = i.dims.size();
  GN_CHECK(start.size() == rank && count.size() == rank, "{}: variable '{}' has rank {}; a slab of rank {} asked for",
           path_.string(), name, rank, start.size());
  std::vector<int> s(rank), stride(rank, 1), edge(rank);
  std::size_t n = 1;
  // Contiguous in column-major order: every dimension before the last partial one is read whole.
  bool contiguous = true, partial_seen = false;
  std::int64_t first = 0, step = 1;  // the slab's first element as a linear index
  for (std::size_t d = 0; d < rank; ++d) {
    GN_CHECK(start[d] >= 0 && count[d] >= 1 && start[d] + count[d] <= i.dims[d],
             "{}: variable '{}' ({}): slab [{}, +{}) of dimension {} is out of range", path_.string(), name,
             i.dims_string(), start[d], count[d], d + 1);
    GN_CHECK(start[d] + count[d] <= std::numeric_limits<int>::max(),
             "{}: variable '{}' ({}): dimension {} is beyond what libmatio's slab reader addresses (int)",
             path_.string(), name, i.dims_string(), d + 1);
    s[d] = static_cast<int>(start[d]);
    edge[d] = static_cast<int>(count[d]);
    n *= static_cast<std::size_t>(count[d]);
    if (partial_seen && count[d] != 1) contiguous = false;
    if (count[d] != i.dims[d]) partial_seen = true;
    first += start[d] * step;
    step *= i.dims[d];
  }
  // Both calls write the values in the variable's class (its memory type), column-major. With Debian's
  // matio 1.5.23:
  //  - v7.3: the hyperslab read (Mat_VarReadData) is right and fast; the linear read selects HDF5 points one
  //    by one (H5S_select_elements), 2.4 s per 480x640 sample.
  //  - v5: Mat_VarReadData returned wrong elements for the rank-4 `images` slab in
  //    tests/apps/nyuv2_convert_test.cpp; a contiguous slab (one sample) is read as a linear range instead,
  //    which is right for plain and compressed v5.
  const bool linear = contiguous && Mat_GetVersion(static_cast<mat_t*>(mat_)) != MAT_FT_MAT73;
  GN_CHECK(!linear || first + static_cast<std::int64_t>(n) <= std::numeric_limits<int>::max(),
           "{}: variable '{}' ({}): the slab ends at element {}, beyond what libmatio's v5 reader addresses (int)",
           path_.string(), name, i.dims_string(), first + static_cast<std::int64_t>(n));
  std::vector<unsigned char> buf(n * Mat_SizeOfClass(v->class_type));
  const int err =
      linear ? Mat_VarReadDataLinear(static_cast<mat_t*>(mat_), v.get(), buf.data(), static_cast<int>(first), 1,
                                     static_cast<int>(n))
             : Mat_VarReadData(static_cast<mat_t*>(mat_), v.get(), buf.data(), s.data(), stride.data(), edge.data());
  GN_CHECK(err == 0, "{}: variable '{}': reading a slab failed{}", path_.string(), name, matio_said());
  return to_doubles(i.cls, buf.data(), n);
}

#else  // !GN_HAVE_MATIO

bool matio_available() { return false; }

MatFile::MatFile(const std::filesystem::path& path) : path_(path) {
  GN_FAIL(
      "{}: cannot read .mat files: gradnorm was built without libmatio (install libmatio-dev, e.g. with "
      "scripts/setup.sh, and re-run cmake)",
      path.string());
}
MatFile::~MatFile() = default;
std::string MatFile::version() const { return "unavailable"; }
std::optional<MatVarInfo> MatFile::info(const std::string&) { return std::nullopt; }
MatArray MatFile::read(const std::string&) { return {}; }
MatArray MatFile::read_field(const std::string&, const std::string&) { return {}; }
std::vector<double> MatFile::read_slab(const std::string&, const std::vector<std::int64_t>&,
                                       const std::vector<std::int64_t>&) {
  return {};
}

#endif

}  // namespace gn::nyuv2
