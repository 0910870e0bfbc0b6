#include "apps/common/writers.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace gn::app {

void write_atomically(const std::filesystem::path& path, std::string_view text) {
  const std::string tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) GN_FAIL("cannot write {} (via {}): {}", path.string(), tmp, std::strerror(errno));
  auto failed = [] { return errno != 0 ? errno : EIO; };
  int err = 0;
  if (std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fflush(f) != 0 || fsync(fileno(f)) != 0)
    err = failed();
  if (std::fclose(f) != 0 && err == 0) err = failed();
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = failed();
  if (err != 0) {
    std::remove(tmp.c_str());
    GN_FAIL("cannot write {} (via {}): {}", path.string(), tmp, std::strerror(err));
  }
}

void prepare_output_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) GN_FAIL("cannot create the output directory {}: {}", dir.string(), ec.message());
  GN_CHECK(std::filesystem::is_directory(dir, ec), "the output path {} exists and is not a directory", dir.string());
  const std::filesystem::path probe = dir / ".gradnorm-write-test";
  write_atomically(probe, "");
  std::filesystem::remove(probe, ec);
}

void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j) {
  write_atomically(path, j.dump(2) + "\n");
}

std::vector<std::string> task_columns(std::string_view prefix, int tasks) {
  std::vector<std::string> out;
  for (int i = 0; i < tasks; ++i) out.push_back(fmt::format("{}_{}", prefix, i));
  return out;
}

MetricsCsv::MetricsCsv(const std::vector<std::string>& columns)
    : numbers_(columns.size() >= 2 ? columns.size() - 2 : 0), text_(fmt::format("{}\n", fmt::join(columns, ","))) {
  GN_CHECK(columns.size() >= 2, "MetricsCsv: the header needs a label and a step column, got {}", columns.size());
}

void MetricsCsv::add_row(std::string_view label, std::int64_t step,
                         std::initializer_list<std::span<const double>> groups) {
  std::size_t n = 0;
  for (const auto& g : groups) n += g.size();
  GN_CHECK(n == numbers_, "MetricsCsv: a row of {} numbers under a header of {}", n, numbers_);
  text_ += fmt::format("{},{}", label, step);
  for (const auto& g : groups)
    for (double x : g) text_ += fmt::format(",{:.9g}", x);
  text_ += "\n";
}

}  // namespace gn::app
