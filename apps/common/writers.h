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
