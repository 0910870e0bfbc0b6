#pragma once
// Output files written atomically: the text goes to PATH.tmp, which is then renamed over PATH, so a reader
// (or a run interrupted mid-write) never sees a half-written file. metrics.csv is a MetricsCsv,
// summary.json a write_json.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gn::app {

// Writes `text` to path (through path.tmp and a rename). The directory must exist. On failure throws a
// gn::Error naming the path and the system's reason (strerror(errno)) and leaves no .tmp behind.
void write_atomically(const std::filesystem::path& path, std::string_view text);
// Creates `dir` (and its parents) if needed and proves it writable by writing and removing a probe file;
// throws naming the directory and the system's reason. Apps call it before any training starts, so an
// unwritable --out is found in a second, not after hours of work.
void prepare_output_dir(const std::filesystem::path& dir);
// j.dump(2) and a newline, written atomically.
void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j);
// fsync of a directory, so that the renames in it survive a crash; throws naming it and the system's reason.
void fsync_directory(const std::filesystem::path& dir);

// A run's identity, stamped into every output set: "<UTC time yyyy-mm-ddThh:mm:ssZ>-<16 random hex digits>".
std::string make_run_id();
// 64-bit FNV-1a of the bytes, as 16 lower-case hex digits: run.json's per-file checksum (no crypto needed:
// it tells files of different runs and truncated files apart).
std::string fnv1a64_hex(std::string_view bytes);

// Removes from `dir` the files of an earlier run that an app writes, and their ".tmp" leftovers: `names`
// are paths relative to dir, or "*/NAME" for NAME in every immediate subdirectory. "run.json" is removed
// first (so a set interrupted from here on has no manifest). Nothing else is touched. Throws naming the file
// and the system's reason when one cannot be removed.
void remove_outputs(const std::filesystem::path& dir, const std::vector<std::string>& names);

// One run's output files in `dir`, written as a set that readers can check: each file atomically
// (write_atomically), then finish() fsyncs every directory written to and writes DIR/run.json LAST:
//   {"run_id": ..., "files": [{"path": relative path, "bytes": size, "fnv1a64": checksum}, ...]}
// A reader that finds no run.json, or a file whose size, checksum or (summary.json) run_id differs from it,
// is looking at an interrupted or mixed set. On failure the error names the file and the system's reason
// (ENOSPC: "No space left on device") and no .tmp is left behind.
class OutputSet {
 public:
  OutputSet(std::filesystem::path dir, std::string run_id);
  const std::string& run_id() const { return run_id_; }
  void write(const std::filesystem::path& relative, std::string_view text);
  void write_json(const std::filesystem::path& relative, const nlohmann::ordered_json& j);
  void finish();

 private:
  std::filesystem::path dir_;
  std::string run_id_;
  nlohmann::ordered_json files_ = nlohmann::ordered_json::array();
  std::vector<std::filesystem::path> dirs_;
};

// "prefix_0", ..., "prefix_{tasks-1}".
std::vector<std::string> task_columns(std::string_view prefix, int tasks);

// A metrics table built in memory: a header, then rows "label,step,v,v,..." with every number {:.9g}.
class MetricsCsv {
 public:
  // The full header: the label column, the step column and one name per number of a row.
  explicit MetricsCsv(const std::vector<std::string>& columns);
  // The numbers are the groups' values in order (e.g. {{&ratio, 1}, weights, losses}); their total count
  // must match the header's.
  void add_row(std::string_view label, std::int64_t step, std::initializer_list<std::span<const double>> groups);
  const std::string& text() const { return text_; }
  void write(const std::filesystem::path& path) const { write_atomically(path, text_); }

 private:
  std::size_t numbers_;  // per row
  std::string text_;
};

}  // namespace gn::app
