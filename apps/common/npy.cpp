#include "apps/common/npy.h"

#include <fmt/format.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "apps/common/writers.h"
#include "core/error.h"

namespace gn::app {

static_assert(std::endian::native == std::endian::little, "the .npy reader assumes a little-endian host");

namespace {

constexpr std::size_t kMaxHeaderBytes = 65536;  // NumPy itself refuses headers over 10000 bytes by default
constexpr std::size_t kMaxDims = 32;            // NumPy's limit is 64; no image data set needs more than 4

// A cursor over the header's dict literal, for errors that say where the header stopped making sense.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view name) : s_(text), name_(name) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{');
    skip_ws();
    while (peek() != '}') {
      const std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        GN_CHECK(!have_descr, "{}: the .npy header repeats the key 'descr'", name_);
        have_descr = true;
        if (peek() == '[')
          GN_FAIL(
              "{}: structured dtypes (a list 'descr') are not supported: use a plain float32, float64, "
              "int64, int32 or uint8 array",
              name_);
        h.type = descr(string_literal());
      } else if (key == "fortran_order") {
        GN_CHECK(!have_order, "{}: the .npy header repeats the key 'fortran_order'", name_);
        have_order = true;
        if (s_.substr(pos_, 4) == "True") {
          GN_FAIL(
              "{}: Fortran-order (column-major) arrays are not supported: save a C-order array "
              "(numpy.ascontiguousarray)",
              name_);
        } else if (s_.substr(pos_, 5) == "False") {
          pos_ += 5;
        } else {
          bad("True or False after 'fortran_order'");
        }
      } else if (key == "shape") {
        GN_CHECK(!have_shape, "{}: the .npy header repeats the key 'shape'", name_);
        have_shape = true;
        h.shape = shape();
      } else {
        GN_FAIL("{}: the .npy header has an unknown key '{}' (expected descr, fortran_order, shape)", name_, key);
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != '}') {
        bad("',' or '}' after a value");
      }
    }
    ++pos_;
    skip_ws();
    GN_CHECK(pos_ == s_.size(), "{}: the .npy header has text after its closing '}}' (at byte {})", name_, pos_);
    GN_CHECK(have_descr && have_order && have_shape,
             "{}: the .npy header lacks the key '{}' (it must hold descr, fortran_order and shape)", name_,
             !have_descr   ? "descr"
             : !have_order ? "fortran_order"
                           : "shape");
    return h;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  [[noreturn]] void bad(std::string_view expected) const {
    GN_FAIL("{}: malformed .npy header: expected {} at byte {} of \"{}\"", name_, expected, pos_, printable());
  }
  std::string printable() const {
    std::string out;
    for (char c : s_.substr(0, 200)) out += (c >= 32 && c < 127) ? c : '?';
    return out;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) bad(fmt::format("'{}'", c));
    ++pos_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("a quoted string");
    const std::size_t end = s_.find(q, pos_ + 1);
    if (end == std::string_view::npos) bad("a closing quote");
    std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }
  NpyType descr(const std::string& d) const {
    if (d == "<f4") return NpyType::Float32;
    if (d == "<f8") return NpyType::Float64;
    if (d == "<i8") return NpyType::Int64;
    if (d == "<i4") return NpyType::Int32;
    if (d == "|u1" || d == "<u1") return NpyType::UInt8;
    if (!d.empty() && (d[0] == '>' || d[0] == '='))
      GN_FAIL("{}: dtype '{}' is {}; only little-endian data is read (numpy: arr.astype(arr.dtype.newbyteorder('<')))",
              name_, d, d[0] == '>' ? "big-endian" : "in the writer's native byte order");
    if (d.find('O') != std::string::npos)
      GN_FAIL("{}: dtype '{}' is a Python-object array (pickled data), which is never read", name_, d);
    GN_FAIL("{}: unsupported dtype '{}' (supported: <f4, <f8, <i8, <i4, |u1)", name_, d);
  }
  Shape shape() {
    const char open = peek();
    if (open != '(' && open != '[') bad("a tuple after 'shape'");
    const char close = open == '(' ? ')' : ']';
    ++pos_;
    Shape out;
    skip_ws();
    while (peek() != close) {
      if (peek() < '0' || peek() > '9') bad("a non-negative integer in 'shape'");
      std::int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        GN_CHECK(v <= (std::numeric_limits<std::int64_t>::max() - digit) / 10,
                 "{}: absurd .npy shape: a dimension does not fit in 64 bits", name_);
        v = v * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 longs: "(3L, 4L)"
      out.push_back(v);
      GN_CHECK(out.size() <= kMaxDims, "{}: absurd .npy shape: more than {} dimensions", name_, kMaxDims);
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != close) {
        bad(fmt::format("',' or '{}' in 'shape'", close));
      }
    }
    ++pos_;
    return out;
  }

  std::string_view s_;
  std::string_view name_;
  std::size_t pos_ = 0;
};

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// out[k] = (To) element k of the stored data.
template <class To>
void convert(const NpyHeader& h, const std::byte* src, std::int64_t n, To* out) {
  auto run = [&]<class From>() {
    if constexpr (std::is_same_v<From, To>) {
      std::memcpy(out, src, static_cast<std::size_t>(n) * sizeof(To));
    } else {
      for (std::int64_t k = 0; k < n; ++k) out[k] = static_cast<To>(load<From>(src + k * sizeof(From)));
    }
  };
  switch (h.type) {
    case NpyType::Float32:
      return run.template operator()<float>();
    case NpyType::Float64:
      return run.template operator()<double>();
    case NpyType::Int64:
      return run.template operator()<std::int64_t>();
    case NpyType::Int32:
      return run.template operator()<std::int32_t>();
    case NpyType::UInt8:
      return run.template operator()<std::uint8_t>();
  }
}

// Float data to int64 labels: every value must be an integer that int64 holds.
template <class From>
void float_to_labels(const std::byte* src, std::int64_t n, std::int64_t* out, std::string_view name) {
  for (std::int64_t k = 0; k < n; ++k) {
    const double v = load<From>(src + k * sizeof(From));
    GN_CHECK(std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.2e18,
             "{}: element {} is {}, not an integer: cannot read it as int64 (labels must be whole numbers)", name, k,
             v);
    out[k] = static_cast<std::int64_t>(v);
  }
}

std::string format_shape(const Shape& s) {
  std::string out = "(";
  for (std::size_t k = 0; k < s.size(); ++k)
    out += fmt::format("{}{}", s[k], s.size() == 1 ? "," : k + 1 < s.size() ? ", " : "");
  return out + ")";
}

std::vector<std::byte> read_bytes(const std::filesystem::path& path, std::size_t limit) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) GN_FAIL("cannot open {}: {}", path.string(), std::strerror(errno));
  std::vector<std::byte> out;
  std::byte buf[1 << 16];
  while (out.size() < limit) {
    const std::size_t want = std::min(sizeof(buf), limit - out.size());
    const std::size_t got = std::fread(buf, 1, want, f);
    out.insert(out.end(), buf, buf + got);
    if (got < want) {
      if (std::ferror(f)) {
        const int err = errno;
        std::fclose(f);
        GN_FAIL("cannot read {}: {}", path.string(), std::strerror(err != 0 ? err : EIO));
      }
      break;
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace

std::string_view npy_type_descr(NpyType t) {
  switch (t) {
    case NpyType::Float32:
      return "<f4";
    case NpyType::Float64:
      return "<f8";
    case NpyType::Int64:
      return "<i8";
    case NpyType::Int32:
      return "<i4";
    case NpyType::UInt8:
      return "|u1";
  }
  return "?";
}

std::size_t npy_type_size(NpyType t) {
  switch (t) {
    case NpyType::Float32:
    case NpyType::Int32:
      return 4;
    case NpyType::Float64:
    case NpyType::Int64:
      return 8;
    case NpyType::UInt8:
      return 1;
  }
  return 0;
}

NpyHeader parse_npy_header(std::span<const std::byte> bytes, std::string_view name) {
  static constexpr unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  GN_CHECK(bytes.size() >= 8, "{}: not a .npy file: {} bytes, shorter than the magic and version", name, bytes.size());
  GN_CHECK(std::memcmp(bytes.data(), magic, sizeof(magic)) == 0,
           "{}: not a .npy file (the first bytes are not \"\\x93NUMPY\")", name);
  NpyHeader h;
  h.major = static_cast<int>(bytes[6]);
  h.minor = static_cast<int>(bytes[7]);
  GN_CHECK((h.major == 1 || h.major == 2 || h.major == 3) && h.minor == 0,
           "{}: unsupported .npy format version {}.{} (1.0, 2.0 and 3.0 are read)", name, h.major, h.minor);
  const std::size_t len_bytes = h.major == 1 ? 2 : 4;
  GN_CHECK(bytes.size() >= 8 + len_bytes, "{}: truncated .npy file: it ends inside the header length", name);
  std::size_t header_len = 0;
  for (std::size_t k = 0; k < len_bytes; ++k)
    header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
  GN_CHECK(header_len <= kMaxHeaderBytes, "{}: absurd .npy header length {} bytes (at most {} are read)", name,
           header_len, kMaxHeaderBytes);
  h.data_offset = 8 + len_bytes + header_len;
  GN_CHECK(bytes.size() >= h.data_offset,
           "{}: truncated .npy file: the header says it is {} bytes long but the file ends {} bytes into it", name,
           header_len, bytes.size() - 8 - len_bytes);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8 + len_bytes, header_len);
  const NpyHeader parsed = HeaderParser(text, name).parse();
  h.type = parsed.type;
  h.shape = parsed.shape;
  std::int64_t n = 1;
  const std::string what = fmt::format("{}: absurd .npy shape {}: element count", name, format_shape(h.shape));
  for (std::int64_t d : h.shape) n = checked_mul(n, d, what.c_str());
  const std::int64_t nbytes =
      checked_mul(n, static_cast<std::int64_t>(npy_type_size(h.type)), (what + " times item size").c_str());
  h.data_bytes = static_cast<std::size_t>(nbytes);
  return h;
}

NpyArray parse_npy(std::span<const std::byte> bytes, std::string_view name, NpyConvert as) {
  NpyArray out{parse_npy_header(bytes, name), {}};
  const NpyHeader& h = out.header;
  const std::size_t have = bytes.size() - h.data_offset;
  GN_CHECK(have >= h.data_bytes,
           "{}: truncated .npy data: shape {} of {} needs {} bytes, the file has {} after the header", name,
           format_shape(h.shape), npy_type_descr(h.type), h.data_bytes, have);
  GN_CHECK(have == h.data_bytes,
           "{}: the .npy header does not match the data: shape {} of {} is {} bytes, the file has {} after the "
           "header",
           name, format_shape(h.shape), npy_type_descr(h.type), h.data_bytes, have);
  DType dt;
  if (as) {
    dt = *as;
  } else {
    dt = h.type == NpyType::Float32 ? DType::Float32 : h.type == NpyType::Float64 ? DType::Float64 : DType::Int64;
  }
  const std::int64_t n = static_cast<std::int64_t>(h.data_bytes / npy_type_size(h.type));
  out.tensor = Tensor::empty(h.shape, dt);
  const std::byte* src = bytes.data() + h.data_offset;
  switch (dt) {
    case DType::Float32:
      convert(h, src, n, out.tensor.data<float>());
      break;
    case DType::Float64:
      convert(h, src, n, out.tensor.data<double>());
      break;
    case DType::Int64:
      if (h.type == NpyType::Float32)
        float_to_labels<float>(src, n, out.tensor.data<std::int64_t>(), name);
      else if (h.type == NpyType::Float64)
        float_to_labels<double>(src, n, out.tensor.data<std::int64_t>(), name);
      else
        convert(h, src, n, out.tensor.data<std::int64_t>());
      break;
  }
  return out;
}

NpyArray read_npy(const std::filesystem::path& path, NpyConvert as) {
  const std::vector<std::byte> bytes = read_bytes(path, std::numeric_limits<std::size_t>::max());
  return parse_npy(bytes, path.string(), as);
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = read_bytes(path, 12 + kMaxHeaderBytes);
  return parse_npy_header(bytes, path.string());
}

std::string encode_npy(const Tensor& t) {
  GN_CHECK(t.defined(), "write_npy: the tensor is undefined");
  const Tensor c = t.to(cpu_device());
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   c.dtype() == DType::Float32   ? "<f4"
                                   : c.dtype() == DType::Float64 ? "<f8"
                                                                 : "<i8",
                                   format_shape(c.shape()));
  // magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64 bytes.
  const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  GN_CHECK(total - 10 <= 65535, "write_npy: the header for shape {} does not fit a version 1.0 file",
           format_shape(c.shape()));
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(c.raw_data()), c.nbytes());
  return out;
}

void write_npy(const std::filesystem::path& path, const Tensor& t) { write_atomically(path, encode_npy(t)); }

}  // namespace gn::app
