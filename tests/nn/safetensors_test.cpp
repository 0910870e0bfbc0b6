// nn/safetensors: round trips of every dtype, the checks that refuse a bad file, atomic writes, and the
// reference Python reader on our file (skipped when the `safetensors` Python package is not installed).
#include "nn/safetensors.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "error_of.h"

namespace gn::nn {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const char* name) {
  const fs::path d = fs::temp_directory_path() / fmt::format("gn_safetensors_{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Tensor int64s(const std::vector<std::int64_t>& v, const Shape& shape) { return Tensor::from_labels(v, shape); }

// Bit patterns, so NaN and -0 compare exactly.
std::vector<std::uint64_t> bits_of(const Tensor& t) {
  std::vector<std::uint64_t> out;
  const auto* p = static_cast<const unsigned char*>(t.raw_data());
  for (std::size_t i = 0; i < t.nbytes(); ++i) out.push_back(p[i]);
  return out;
}

StateDict sample_state() {
  return {{"f32", Tensor::from_vector(std::vector<double>{1.5, -2.25, 3e-8, -0.0, 7, 8}, {2, 3})},
          {"f64",
           Tensor::from_vector(std::vector<double>{std::acos(-1.0), std::numeric_limits<double>::quiet_NaN(), -1e300},
                               {3}, DType::Float64)},
          {"i64", int64s({std::numeric_limits<std::int64_t>::min(), -1, 0, std::numeric_limits<std::int64_t>::max()},
                         {2, 1, 2})},
          {"scalar", state_scalar(0.1)},
          {"count", state_count(42)}};
}

// The file's bytes with the header replaced by `header` (same data).
std::string with_header(const std::string& file, const std::string& header) {
  std::uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  std::string out(8, '\0');
  const std::uint64_t m = header.size();
  std::memcpy(out.data(), &m, 8);
  return out + header + file.substr(8 + n);
}

nlohmann::json header_of(const std::string& file) {
  std::uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  return nlohmann::json::parse(file.substr(8, n));
}

TEST(Safetensors, RoundTripsEveryDtypeAndZeroDTensorsInOrder) {
  const StateDict state = sample_state();
  const Metadata meta{{"method", "gradnorm"}, {"format", "x"}};
  const std::string bytes = encode_safetensors(state, meta);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // the data is 8-byte aligned
  EXPECT_EQ(bytes[8], '{');
  const SafetensorsFile f = decode_safetensors(bytes, "mem");
  ASSERT_EQ(f.tensors.size(), state.size());
  for (std::size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, state[i].first);
    EXPECT_EQ(f.tensors[i].second.dtype(), state[i].second.dtype()) << state[i].first;
    EXPECT_EQ(f.tensors[i].second.shape(), state[i].second.shape()) << state[i].first;
    EXPECT_EQ(bits_of(f.tensors[i].second), bits_of(state[i].second)) << state[i].first;
  }
  EXPECT_EQ(f.tensors[3].second.dim(), 0);
  ASSERT_NE(f.find("method"), nullptr);
  EXPECT_EQ(*f.find("method"), "gradnorm");
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_EQ(f.metadata.size(), 2u);
}

TEST(Safetensors, SavesAtomicallyAndLoadsFromDisk) {
  const fs::path dir = temp_dir("disk");
  const fs::path path = dir / "a.safetensors";
  save_safetensors(path, sample_state(), {{"k", "v"}});
  save_safetensors(path, sample_state(), {{"k", "w"}});  // over an existing file
  EXPECT_FALSE(fs::exists(dir / "a.safetensors.tmp"));
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(*f.find("k"), "w");
  EXPECT_EQ(f.tensors.size(), 5u);
  const std::string err = error_of([&] { save_safetensors(dir / "no" / "such" / "x.safetensors", sample_state()); });
  EXPECT_NE(err.find("no/such/x.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
  const std::string missing = error_of([&] { load_safetensors(dir / "missing.safetensors"); });
  EXPECT_NE(missing.find("missing.safetensors"), std::string::npos) << missing;
  fs::remove_all(dir);
}

TEST(Safetensors, RefusesBadFilesNamingTheFileAndTheProblem) {
  const std::string good = encode_safetensors(sample_state(), {{"a", "b"}});
  auto refused = [](const std::string& bytes) { return error_of([&] { decode_safetensors(bytes, "ckpt.st"); }); };
  auto expect_refused = [&](const std::string& bytes, const std::string& what) {
    const std::string e = refused(bytes);
    EXPECT_NE(e.find("ckpt.st"), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << "expected '" << what << "' in: " << e;
  };
  // Truncated: inside the length, inside the header, inside the data.
  expect_refused(good.substr(0, 5), "too short");
  expect_refused(good.substr(0, 20), "exceeds");
  expect_refused(good.substr(0, good.size() - 1), "run past");
  // Trailing bytes that no tensor claims.
  expect_refused(good + "xx", "cover");
  // Corrupted header length.
  std::string bad_len = good;
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() - 3;
  std::memcpy(bad_len.data(), &huge, 8);
  expect_refused(bad_len, "header length");
  // Bad JSON, not an object, bad metadata.
  expect_refused(with_header(good, "{\"f32\": [1, 2"), "not valid JSON");
  expect_refused(with_header(good, "[1, 2]"), "not a JSON object");
  nlohmann::json h = header_of(good);
  auto edited = [&](auto&& edit) {
    nlohmann::json copy = h;
    edit(copy);
    return with_header(good, copy.dump());
  };
  expect_refused(edited([](auto& j) { j["__metadata__"]["a"] = 3; }), "not a string");
  // Unknown dtype, bad shape, unknown field.
  expect_refused(edited([](auto& j) { j["f32"]["dtype"] = "F16"; }), "dtype 'F16' is not supported");
  expect_refused(edited([](auto& j) { j["f32"]["shape"] = {2, -3}; }), "non-negative integer");
  expect_refused(edited([](auto& j) { j["f32"]["extra"] = 1; }), "unknown field 'extra'");
  expect_refused(edited([](auto& j) { j["f32"].erase("shape"); }), "needs dtype, shape and data_offsets");
  // Offsets out of range, reversed, wrong byte count, overlapping, overflowing shapes.
  expect_refused(edited([](auto& j) { j["count"]["data_offsets"] = {1u << 30, (1u << 30) + 8}; }), "run past");
  expect_refused(edited([](auto& j) { j["f32"]["data_offsets"] = {8, 0}; }), "end before they begin");
  expect_refused(edited([](auto& j) { j["f32"]["shape"] = {2, 2}; }), "hold 24 bytes but F32 [2,2] needs 16");
  expect_refused(edited([](auto& j) { j["f64"]["data_offsets"] = {16, 40}; }), "overlapping");
  expect_refused(edited([](auto& j) {
                   j["f32"]["shape"] = {std::uint64_t{1} << 40, std::uint64_t{1} << 40};
                 }),
                 "overflows");
  // A duplicate key (nlohmann would keep the last silently).
  std::string dup = h.dump();
  dup.insert(1, "\"count\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},");
  expect_refused(with_header(good, dup), "more than once");
  // The untouched file still decodes.
  EXPECT_EQ(decode_safetensors(good, "ok").tensors.size(), 5u);
}

TEST(Safetensors, RefusesWhatItCannotWrite) {
  EXPECT_NE(error_of([] {
              encode_safetensors({{"a", state_count(1)}, {"a", state_count(2)}});
            }).find("more than once"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              encode_safetensors({{"__metadata__", state_count(1)}});
            }).find("invalid tensor name"),
            std::string::npos);
  EXPECT_NE(error_of([] { encode_safetensors({{"u", Tensor()}}); }).find("undefined"), std::string::npos);
}

// The reference implementation reads our file, and we read its file.
TEST(Safetensors, InteroperatesWithThePythonPackage) {
  if (std::system("python3 -c 'import numpy, safetensors.numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "the Python package `safetensors` (with numpy) is not importable: pip install safetensors numpy";
  const fs::path dir = temp_dir("python");
  const fs::path ours = dir / "ours.safetensors", theirs = dir / "theirs.safetensors", report = dir / "report.txt";
  save_safetensors(ours, sample_state(), {{"method", "gradnorm"}});
  const std::string script = fmt::format(
      "import numpy as np\n"
      "from safetensors.numpy import load_file, save_file\n"
      "from safetensors import safe_open\n"
      "t = load_file('{0}')\n"
      "with safe_open('{0}', framework='np') as f: meta = f.metadata()\n"
      "out = open('{1}', 'w')\n"
      "for k in sorted(t): out.write('%s %s %s %s\\n' % (k, t[k].dtype, list(t[k].shape), "
      "','.join(repr(float(x)) for x in t[k].ravel())))\n"
      "out.write('meta %s\\n' % meta['method'])\n"
      "save_file({{'a': np.arange(6, dtype=np.float32).reshape(2, 3), 'b': np.array(2.5), "
      "'c': np.array([-3, 9], dtype=np.int64)}}, '{2}', metadata={{'who': 'python'}})\n",
      ours.string(), report.string(), theirs.string());
  const fs::path script_path = dir / "check.py";
  std::ofstream(script_path) << script;
  ASSERT_EQ(std::system(fmt::format("python3 '{}'", script_path.string()).c_str()), 0);
  std::ifstream in(report);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::vector<std::string> expected{"count int64 [] 42.0",
                                          "f32 float32 [2, 3] 1.5,-2.25,2.999999892949745e-08,-0.0,7.0,8.0",
                                          "f64 float64 [3] 3.141592653589793,nan,-1e+300",
                                          "i64 int64 [2, 1, 2] -9.223372036854776e+18,-1.0,0.0,9.223372036854776e+18",
                                          "scalar float64 [] 0.1",
                                          "meta gradnorm"};
  EXPECT_EQ(lines, expected);
  const SafetensorsFile f = load_safetensors(theirs);
  ASSERT_EQ(f.tensors.size(), 3u);
  for (const auto& [name, t] : f.tensors) {
    if (name == "a") {
      EXPECT_EQ(t.dtype(), DType::Float32);
      EXPECT_EQ(t.shape(), (Shape{2, 3}));
      EXPECT_EQ(t.to_vector(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
    } else if (name == "b") {
      EXPECT_EQ(t.dtype(), DType::Float64);
      EXPECT_EQ(t.dim(), 0);
      EXPECT_EQ(t.item(), 2.5);
    } else {
      EXPECT_EQ(name, "c");
      EXPECT_EQ(t.dtype(), DType::Int64);
      EXPECT_EQ(t.to_vector(), (std::vector<double>{-3, 9}));
    }
  }
  EXPECT_EQ(*f.find("who"), "python");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gn::nn
