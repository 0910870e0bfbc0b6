#include "apps/common/writers.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

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

void fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) GN_FAIL("cannot open the directory {} to sync it: {}", dir.string(), std::strerror(errno));
  const int rc = ::fsync(fd), err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL && err != EROFS)  // some file systems cannot sync a directory: nothing to do
    GN_FAIL("cannot sync the directory {}: {}", dir.string(), std::strerror(err));
}

std::string make_run_id() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::random_device rd;
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  return fmt::format("{}-{:016x}", when, r);
}

std::string fnv1a64_hex(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

void remove_outputs(const std::filesystem::path& dir, const std::vector<std::string>& names) {
  namespace fs = std::filesystem;
  auto remove_one = [](const fs::path& p) {
    for (const fs::path& q : {p, fs::path(p.string() + ".tmp")}) {
      std::error_code ec;
      if (fs::is_directory(fs::symlink_status(q, ec))) continue;  // not a file this app writes
      fs::remove(q, ec);
      if (ec) GN_FAIL("cannot remove the earlier run's {}: {}", q.string(), ec.message());
    }
  };
  std::vector<std::string> ordered = names;  // run.json first: an interrupted set then has no manifest
  std::stable_partition(ordered.begin(), ordered.end(), [](const std::string& n) { return n == "run.json"; });
  for (const std::string& name : ordered) {
    if (!name.starts_with("*/")) {
      remove_one(dir / name);
      continue;
    }
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory()) remove_one(it->path() / name.substr(2));
    if (ec && ec != std::errc::no_such_file_or_directory)
      GN_FAIL("cannot list {} to remove an earlier run's files: {}", dir.string(), ec.message());
  }
  std::error_code ec;
  if (fs::is_directory(dir, ec)) fsync_directory(dir);
}

OutputSet::OutputSet(std::filesystem::path dir, std::string run_id) : dir_(std::move(dir)), run_id_(std::move(run_id)) {
  GN_CHECK(!run_id_.empty(), "OutputSet: empty run id");
}

void OutputSet::write(const std::filesystem::path& relative, std::string_view text) {
  GN_CHECK(relative.is_relative() && relative.filename() != "run.json", "OutputSet: bad file name {}",
           relative.string());
  const std::filesystem::path path = dir_ / relative;
  write_atomically(path, text);
  files_.push_back({{"path", relative.generic_string()}, {"bytes", text.size()}, {"fnv1a64", fnv1a64_hex(text)}});
  if (std::ranges::find(dirs_, path.parent_path()) == dirs_.end()) dirs_.push_back(path.parent_path());
}

void OutputSet::write_json(const std::filesystem::path& relative, const nlohmann::ordered_json& j) {
  write(relative, j.dump(2) + "\n");
}

void OutputSet::finish() {
  for (const auto& d : dirs_) fsync_directory(d);  // every file's rename is durable before the manifest
  nlohmann::ordered_json manifest;
  manifest["run_id"] = run_id_;
  manifest["files"] = files_;
  write_atomically(dir_ / "run.json", manifest.dump(2) + "\n");
  fsync_directory(dir_);
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
