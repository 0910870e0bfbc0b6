#pragma once
// Files for the app tests: a fresh directory per test process, and a whole file read back.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace gn::test_files {

// <temp>/gn_<prefix>_<name>_<pid>, removed first (a leftover of an earlier run never leaks into a test) and,
// with create, created empty.
inline std::filesystem::path scratch_dir(std::string_view prefix, const std::string& name, bool create = true) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("gn_" + std::string(prefix) + "_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  if (create) std::filesystem::create_directories(dir);
  return dir;
}

// The file's bytes ("" when it cannot be opened).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace gn::test_files
