// apps/common/npy: the .npy reader and writer. Hand-made byte arrays (no Python needed), files written by
// NumPy itself when python3 with numpy is installed (skipped, with the reason, otherwise), and every refusal.
#include "apps/common/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/apps/scratch_files.h"

namespace gn::app {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) { return test_files::scratch_dir("npy", name); }

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A .npy file's bytes: magic, version, header length (2 bytes for 1.0, 4 otherwise), the dict padded with
// spaces and a newline to a multiple of 64 bytes, then `data`.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  const std::size_t total = (8 + len_bytes + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 8 - len_bytes - header.size() - 1, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t k = 0; k < len_bytes; ++k) out += static_cast<char>((header.size() >> (8 * k)) & 0xff);
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Expects parse_npy to refuse `bytes` with a gn::Error naming "NAME.npy" and containing `what`.
void expect_refused(const std::string& bytes, const std::string& what, NpyConvert as = std::nullopt) {
  try {
    (void)parse_npy(as_bytes(bytes), "NAME.npy", as);
    FAIL() << "accepted; expected an error containing \"" << what << "\"";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("NAME.npy"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(Npy, RoundTripsFloat32Float64Int64) {
  const fs::path dir = scratch("roundtrip");
  const Tensor f = Tensor::from_vector(std::vector<float>{1.5f, -2.25f, 3e-8f, 0.f, 7.f, -1e30f}, {2, 3});
  const Tensor d = Tensor::from_vector(std::vector<double>{0.1, -1e300, 3.0}, {3, 1, 1}, DType::Float64);
  const Tensor l = Tensor::from_labels(std::vector<std::int64_t>{-1, 12, 1LL << 60, 0}, {4});
  const Tensor s = Tensor::scalar(2.5);                  // 0-d: shape ()
  const Tensor z = Tensor::zeros({0, 5}, DType::Int64);  // no elements
  for (const Tensor& t : {f, d, l, s, z}) {
    write_npy(dir / "a.npy", t);
    EXPECT_FALSE(fs::exists(dir / "a.npy.tmp"));
    const NpyArray back = read_npy(dir / "a.npy");
    EXPECT_EQ(back.tensor.shape(), t.shape());
    EXPECT_EQ(back.tensor.dtype(), t.dtype());
    ASSERT_EQ(back.tensor.nbytes(), t.nbytes());
    EXPECT_EQ(std::memcmp(back.tensor.raw_data(), t.raw_data(), t.nbytes()), 0);
  }
  // NumPy's layout: version 1.0, the data at a multiple of 64 bytes, the header ending in a newline.
  const std::string bytes = encode_npy(f);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const NpyHeader h = parse_npy_header(as_bytes(bytes), "f");
  EXPECT_EQ(h.data_offset % 64, 0u);
  EXPECT_EQ(bytes[h.data_offset - 1], '\n');
  EXPECT_NE(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), std::string::npos);
  EXPECT_NE(encode_npy(l).find("'shape': (4,)"), std::string::npos);
  EXPECT_NE(encode_npy(s).find("'shape': ()"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Npy, ReadsEveryVersionAndDtypeFromHandMadeBytes) {
  const std::vector<float> f{1, 2, 3, 4, 5, 6};
  NpyArray a =
      parse_npy(as_bytes(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", raw(f))), "x");
  EXPECT_EQ(a.header.major, 1);
  EXPECT_EQ(a.tensor.shape(), (Shape{2, 3}));
  EXPECT_EQ(a.tensor.dtype(), DType::Float32);
  EXPECT_EQ(a.tensor.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));

  // 2.0 (4-byte length), int32, keys in another order, double quotes: int64 by default.
  const std::vector<std::int32_t> i4{-1, 0, 12, 2147483647};
  a = parse_npy(as_bytes(npy_bytes("{\"shape\": (4,), \"fortran_order\": False, \"descr\": \"<i4\"}", raw(i4), 2)),
                "x");
  EXPECT_EQ(a.header.major, 2);
  EXPECT_EQ(a.header.type, NpyType::Int32);
  EXPECT_EQ(a.tensor.dtype(), DType::Int64);
  EXPECT_EQ(a.tensor.to_vector(), (std::vector<double>{-1, 0, 12, 2147483647}));

  // 3.0, uint8 ('|u1'), read as float32.
  const std::string u1("\x00\x7f\xff", 3);
  a = parse_npy(as_bytes(npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3)}", u1, 3)), "x",
                DType::Float32);
  EXPECT_EQ(a.header.major, 3);
  EXPECT_EQ(a.tensor.dtype(), DType::Float32);
  EXPECT_EQ(a.tensor.to_vector(), (std::vector<double>{0, 127, 255}));

  // float64 to float32; int64 as it is; Python 2's long dims "(2L,)".
  const std::vector<double> f8{0.5, -3.0};
  a = parse_npy(as_bytes(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }", raw(f8))), "x",
                DType::Float32);
  EXPECT_EQ(a.tensor.dtype(), DType::Float32);
  EXPECT_EQ(a.tensor.to_vector(), (std::vector<double>{0.5, -3.0}));
  const std::vector<std::int64_t> i8{-1, 5};
  a = parse_npy(as_bytes(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", raw(i8))), "x");
  EXPECT_EQ(a.tensor.dtype(), DType::Int64);
  EXPECT_EQ(a.tensor.to_vector(), (std::vector<double>{-1, 5}));

  // Labels stored as floats become int64 when whole; a fraction or NaN is refused.
  const std::vector<float> labels{-1, 0, 12};
  a = parse_npy(as_bytes(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", raw(labels))), "x",
                DType::Int64);
  EXPECT_EQ(a.tensor.dtype(), DType::Int64);
  EXPECT_EQ(a.tensor.to_vector(), (std::vector<double>{-1, 0, 12}));
  expect_refused(
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", raw(std::vector<float>{1, 2.5f})),
      "element 1 is 2.5, not an integer", DType::Int64);
  expect_refused(
      npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", raw(std::vector<double>{std::nan("")})),
      "not an integer", DType::Int64);

  // A 0-d array and a zero-size one.
  a = parse_npy(as_bytes(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", raw(f8).substr(0, 8))),
                "x");
  EXPECT_EQ(a.tensor.shape(), Shape{});
  EXPECT_EQ(a.tensor.item(), 0.5);
  a = parse_npy(as_bytes(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 7), }", "")), "x");
  EXPECT_EQ(a.tensor.numel(), 0);
}

TEST(Npy, RefusesWhatItCannotRead) {
  const std::string f4 = raw(std::vector<float>{1, 2, 3, 4, 5, 6});
  const auto dict = [](const std::string& descr, const std::string& order, const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }";
  };
  expect_refused(npy_bytes(dict("<f4", "True", "(2, 3)"), f4), "Fortran-order");
  expect_refused(npy_bytes(dict(">f4", "False", "(2, 3)"), f4), "big-endian");
  expect_refused(npy_bytes(dict("=f4", "False", "(2, 3)"), f4), "native byte order");
  expect_refused(npy_bytes(dict("|O", "False", "(6,)"), f4), "Python-object");
  expect_refused(npy_bytes(dict("<f2", "False", "(12,)"), f4), "unsupported dtype '<f2'");
  expect_refused(npy_bytes(dict("|b1", "False", "(24,)"), f4), "unsupported dtype '|b1'");
  expect_refused(npy_bytes(dict("<U3", "False", "(2,)"), f4), "unsupported dtype '<U3'");
  expect_refused(npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", f4), "structured");
  // Sizes: truncated data, data longer than the shape says, a header longer than the file.
  expect_refused(npy_bytes(dict("<f4", "False", "(2, 4)"), f4), "truncated .npy data");
  expect_refused(npy_bytes(dict("<f4", "False", "(2, 2)"), f4), "does not match the data");
  expect_refused(npy_bytes(dict("<f8", "False", "(2, 3)"), f4), "truncated .npy data");
  const std::string whole = npy_bytes(dict("<f4", "False", "(2, 3)"), f4);
  expect_refused(whole.substr(0, 40), "truncated .npy file");
  expect_refused(whole.substr(0, 9), "truncated .npy file");
  expect_refused(whole.substr(0, 5), "not a .npy file");
  // Absurd shapes: overflowing element or byte counts, a dimension past 64 bits, too many dimensions.
  expect_refused(npy_bytes(dict("<f4", "False", "(4294967296, 4294967296)"), f4), "absurd .npy shape");
  expect_refused(npy_bytes(dict("<f8", "False", "(2305843009213693952,)"), f4), "absurd .npy shape");
  expect_refused(npy_bytes(dict("<f4", "False", "(99999999999999999999,)"), f4), "absurd .npy shape");
  std::string many = "(";
  for (int k = 0; k < 40; ++k) many += "1, ";
  expect_refused(npy_bytes(dict("<f4", "False", many + ")"), f4), "more than 32 dimensions");
  expect_refused(npy_bytes(dict("<f4", "False", "(-1, 6)"), f4), "malformed .npy header");
  // Malformed headers.
  std::string bad_magic = whole;
  bad_magic[1] = 'M';
  expect_refused(bad_magic, "not a .npy file");
  std::string bad_version = whole;
  bad_version[6] = 4;
  expect_refused(bad_version, "unsupported .npy format version 4.0");
  expect_refused(npy_bytes("{'descr': '<f4', 'shape': (2, 3), }", f4), "lacks the key 'fortran_order'");
  expect_refused(npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", f4), "repeats");
  expect_refused(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", f4), "unknown key 'x'");
  expect_refused(npy_bytes(dict("<f4", "False", "(6,)") + " junk", f4), "text after its closing");
  expect_refused(npy_bytes("{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", f4), "malformed .npy header");
  expect_refused(npy_bytes("{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}", f4), "unsupported dtype '<f4, '");
  expect_refused(npy_bytes("{'descr", f4), "expected a closing quote");
  expect_refused(npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", f4), "True or False");
  expect_refused(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': 6}", f4), "a tuple");
  std::string huge_len = std::string("\x93NUMPY\x02\x00", 8) + std::string("\xff\xff\xff\x7f", 4);
  expect_refused(huge_len, "absurd .npy header length");
}

TEST(Npy, FileErrorsNameThePath) {
  const fs::path dir = scratch("files");
  try {
    (void)read_npy(dir / "missing.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.npy"), std::string::npos) << e.what();
  }
  {
    std::ofstream(dir / "short.npy", std::ios::binary)
        << npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", "abcd");
  }
  try {
    (void)read_npy(dir / "short.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "short.npy").string()), std::string::npos) << e.what();
  }
  // The header alone reads without the data.
  EXPECT_EQ(read_npy_header(dir / "short.npy").shape, Shape{10});
  // Writing an int32-free dtype set only: a missing directory fails naming the path and leaves nothing.
  EXPECT_THROW(write_npy(dir / "no" / "x.npy", Tensor::zeros({2})), Error);
  fs::remove_all(dir);
}

// Files written by NumPy itself (np.save and np.lib.format.write_array), including the versions 2.0 and 3.0
// and the refusals, when python3 has numpy.
TEST(Npy, ReadsFilesWrittenByNumPy) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with numpy is not available: the NumPy-written fixtures are skipped (the hand-made "
                    "byte arrays cover the format)";
  const fs::path dir = scratch("numpy");
  const std::string script = R"PY(
import numpy as np, sys, os
d = sys.argv[1]
def p(n): return os.path.join(d, n)
np.save(p('f4.npy'), (np.arange(24, dtype=np.float32) / 8).reshape(2, 3, 4))
np.save(p('f8.npy'), np.arange(6, dtype=np.float64).reshape(3, 2) - 2.5)
np.save(p('i8.npy'), np.arange(-3, 9, dtype=np.int64).reshape(3, 4))
np.save(p('i4.npy'), np.arange(-3, 9, dtype=np.int32))
np.save(p('u1.npy'), np.arange(250, 256, dtype=np.uint8).reshape(2, 3))
np.save(p('lab.npy'), np.array([[-1., 0.], [12., 3.]], dtype=np.float32))
np.save(p('scalar.npy'), np.float64(4.25))
with open(p('v2.npy'), 'wb') as f: np.lib.format.write_array(f, np.ones((2, 2), np.float32), version=(2, 0))
with open(p('v3.npy'), 'wb') as f: np.lib.format.write_array(f, np.full((3,), 7, np.int64), version=(3, 0))
np.save(p('fortran.npy'), np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(p('big.npy'), np.ones(3, dtype='>f4'))
np.save(p('obj.npy'), np.array([1, 'a'], dtype=object), allow_pickle=True)
np.save(p('f2.npy'), np.ones(3, dtype=np.float16))
np.save(p('rec.npy'), np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]))
)PY";
  { std::ofstream(dir / "make.py") << script; }
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (dir / "make.py").string() + " " + dir.string()).c_str()), 0);
  auto values = [&](const char* name, NpyConvert as = std::nullopt) { return read_npy(dir / name, as).tensor; };
  Tensor t = values("f4.npy");
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  for (int k = 0; k < 24; ++k) EXPECT_EQ(t.to_vector()[k], k / 8.0);
  t = values("f8.npy");
  EXPECT_EQ(t.dtype(), DType::Float64);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}));
  t = values("i8.npy");
  EXPECT_EQ(t.shape(), (Shape{3, 4}));
  EXPECT_EQ(t.to_vector()[0], -3);
  EXPECT_EQ(t.to_vector()[11], 8);
  EXPECT_EQ(values("i4.npy").to_vector()[11], 8);
  EXPECT_EQ(values("u1.npy", DType::Float32).to_vector(), (std::vector<double>{250, 251, 252, 253, 254, 255}));
  EXPECT_EQ(values("lab.npy", DType::Int64).to_vector(), (std::vector<double>{-1, 0, 12, 3}));
  EXPECT_EQ(values("scalar.npy").item(), 4.25);
  EXPECT_EQ(read_npy(dir / "v2.npy").header.major, 2);
  EXPECT_EQ(values("v2.npy").to_vector(), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(read_npy(dir / "v3.npy").header.major, 3);
  EXPECT_EQ(values("v3.npy").to_vector(), (std::vector<double>{7, 7, 7}));
  for (const auto& [name, why] : {std::pair{"fortran.npy", "Fortran-order"}, std::pair{"big.npy", "big-endian"},
                                  std::pair{"obj.npy", "Python-object"}, std::pair{"f2.npy", "unsupported dtype"},
                                  std::pair{"rec.npy", "structured"}}) {
    try {
      (void)read_npy(dir / name);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  // Ours, read back by NumPy.
  write_npy(dir / "ours.npy", Tensor::from_labels(std::vector<std::int64_t>{-1, 7, 12}, {3, 1}));
  const std::string check =
      "/usr/bin/python3 -c \"import numpy as np, sys; a = np.load(sys.argv[1]); "
      "sys.exit(0 if a.dtype == np.int64 and a.shape == (3, 1) and list(a[:, 0]) == [-1, 7, 12] "
      "else 1)\" " +
      (dir / "ours.npy").string();
  EXPECT_EQ(std::system(check.c_str()), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gn::app
