#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace gn::nn {

static_assert(std::endian::native == std::endian::little, "safetensors: the raw data is little-endian");

namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMaxHeader = 100u << 20;  // the reference implementation's limit (100 MB)
constexpr std::string_view kMetadataKey = "__metadata__";

std::string_view st_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      return "I64";
  }
  return "?";
}

bool parse_dtype(std::string_view s, DType& out) {
  if (s == "F32")
    out = DType::Float32;
  else if (s == "F64")
    out = DType::Float64;
  else if (s == "I64")
    out = DType::Int64;
  else
    return false;
  return true;
}

std::string errno_text(int err) { return std::strerror(err != 0 ? err : EIO); }

// One tensor's entry once the header is checked.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin, end;
};

}  // namespace

const std::string* SafetensorsFile::find(std::string_view key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

std::string encode_safetensors(const StateDict& tensors, const Metadata& metadata) {
  json header = json::object();
  std::set<std::string_view> names;
  std::uint64_t offset = 0;
  std::vector<Tensor> host;
  host.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    GN_CHECK(!name.empty() && name != kMetadataKey, "safetensors: invalid tensor name '{}'", name);
    GN_CHECK(names.insert(name).second, "safetensors: tensor '{}' appears more than once", name);
    GN_CHECK(t.defined(), "safetensors: tensor '{}' is undefined", name);
    host.push_back(t.device().is_cpu() ? t : t.to(cpu_device()));
    const std::uint64_t bytes = t.nbytes();
    header[name] = {{"dtype", st_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [k, v] : metadata) {
      GN_CHECK(!meta.contains(k), "safetensors: metadata key '{}' appears more than once", k);
      meta[k] = v;
    }
    header[std::string(kMetadataKey)] = std::move(meta);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  const std::uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out += text;
  out.reserve(out.size() + offset);
  for (const Tensor& t : host) out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  return out;
}

SafetensorsFile decode_safetensors(std::string_view bytes, std::string_view source) {
  auto fail = [&](const std::string& what) { GN_FAIL("safetensors file {}: {}", source, what); };
  if (bytes.size() < 8) fail(fmt::format("truncated: {} bytes, too short for the 8-byte header length", bytes.size()));
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const std::uint64_t rest = bytes.size() - 8;
  if (n > rest)
    fail(fmt::format("the header length {} exceeds the {} bytes after it (truncated or corrupted)", n, rest));
  if (n > kMaxHeader) fail(fmt::format("the header length {} exceeds the limit of {} bytes", n, kMaxHeader));
  if (n < 2) fail(fmt::format("the header length {} is too small for a JSON object", n));
  const std::string_view text = bytes.substr(8, n);
  const std::string_view data = bytes.substr(8 + n);

  // Parse, refusing duplicate top-level keys (nlohmann would keep the last one silently).
  std::set<std::string> keys;
  std::string duplicate;
  json header;
  try {
    header = json::parse(text, [&](int depth, json::parse_event_t event, json& parsed) {
      if (event == json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second)
        duplicate = parsed.get<std::string>();
      return true;
    });
  } catch (const json::exception& e) {
    fail(fmt::format("the header is not valid JSON: {}", e.what()));
  }
  if (!duplicate.empty()) fail(fmt::format("the header lists '{}' more than once", duplicate));
  if (!header.is_object()) fail("the header is not a JSON object");

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) fail("__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail(fmt::format("__metadata__ '{}' is not a string", k));
        out.metadata.emplace_back(k, v.get<std::string>());
      }
      continue;
    }
    // (an init-capture: clang before 16 cannot capture a structured binding)
    auto bad = [&, &name = name](const std::string& what) { fail(fmt::format("tensor '{}': {}", name, what)); };
    if (name.empty()) fail("a tensor has an empty name");
    if (!value.is_object()) bad("the entry is not an object");
    for (const auto& [field, v] : value.items())
      if (field != "dtype" && field != "shape" && field != "data_offsets")
        bad(fmt::format("unknown field '{}'", field));
    if (!value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
      bad("needs dtype, shape and data_offsets");
    Entry e{name, DType::Float32, {}, 0, 0};
    const json& dt = value["dtype"];
    if (!dt.is_string()) bad("dtype is not a string");
    if (!parse_dtype(dt.get<std::string>(), e.dtype))
      bad(fmt::format("dtype '{}' is not supported (F32, F64 or I64)", dt.get<std::string>()));
    const json& shape = value["shape"];
    if (!shape.is_array()) bad("shape is not an array");
    std::uint64_t count = 1;
    for (const json& d : shape) {
      if (!d.is_number_unsigned())
        bad(fmt::format("shape {} holds something other than a non-negative integer", shape.dump()));
      const auto dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
          __builtin_mul_overflow(count, dim, &count) ||
          count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        bad(fmt::format("shape {} overflows the element count", shape.dump()));
      e.shape.push_back(static_cast<std::int64_t>(dim));
    }
    std::uint64_t expected_bytes = 0;
    if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(dtype_size(e.dtype)), &expected_bytes))
      bad(fmt::format("shape {} overflows the byte count", shape.dump()));
    const json& off = value["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad(fmt::format("data_offsets {} is not a pair of non-negative integers", off.dump()));
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    if (e.begin > e.end) bad(fmt::format("data_offsets [{}, {}] end before they begin", e.begin, e.end));
    if (e.end > data.size())
      bad(fmt::format("data_offsets [{}, {}] run past the {} data bytes (truncated?)", e.begin, e.end, data.size()));
    if (e.end - e.begin != expected_bytes)
      bad(fmt::format("data_offsets [{}, {}] hold {} bytes but {} {} needs {}", e.begin, e.end, e.end - e.begin,
                      st_name(e.dtype), shape.dump(), expected_bytes));
    entries.push_back(std::move(e));
  }
  std::sort(out.metadata.begin(), out.metadata.end());
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t at = 0;
  for (const Entry& e : entries) {
    if (e.begin != at)
      fail(fmt::format("tensor '{}' starts at byte {} but the previous data ends at {} ({})", e.name, e.begin, at,
                       e.begin < at ? "overlapping" : "a gap"));
    at = e.end;
  }
  if (at != data.size()) fail(fmt::format("the tensors cover {} bytes but the data holds {}", at, data.size()));

  // Everything checked: build the tensors.
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), data.data() + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  const std::string tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) GN_FAIL("cannot write {} (via {}): {}", path.string(), tmp, errno_text(errno));
  int err = 0;
  std::size_t done = 0;
  while (err == 0 && done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno != EINTR) err = errno != 0 ? errno : EIO;
    } else {
      done += static_cast<std::size_t>(w);
    }
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno != 0 ? errno : EIO;
  if (::close(fd) != 0 && err == 0) err = errno != 0 ? errno : EIO;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno != 0 ? errno : EIO;
  if (err != 0) {
    ::unlink(tmp.c_str());
    GN_FAIL("cannot write {} (via {}): {}", path.string(), tmp, errno_text(err));
  }
  // The rename is durable once the directory entry is.
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) GN_FAIL("wrote {} but cannot open its directory to sync it: {}", path.string(), errno_text(errno));
  err = ::fsync(dfd) != 0 ? (errno != 0 ? errno : EIO) : 0;
  ::close(dfd);
  if (err != 0 && err != EINVAL)  // some file systems cannot sync a directory
    GN_FAIL("wrote {} but cannot sync its directory {}: {}", path.string(), dir.string(), errno_text(err));
}

void save_safetensors(const std::filesystem::path& path, const StateDict& tensors, const Metadata& metadata) {
  write_file_atomically(path, encode_safetensors(tensors, metadata));
}

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) GN_FAIL("cannot read safetensors file {}: {}", path.string(), errno_text(errno));
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      GN_FAIL("cannot read safetensors file {}: {}", path.string(), errno_text(err));
    }
    if (r == 0) break;
    bytes.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return decode_safetensors(bytes, path.string());
}

}  // namespace gn::nn
