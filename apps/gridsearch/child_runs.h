#pragma once
// Runs training processes (an app's binary with its arguments) at most `jobs` at a time, each with its
// stdout and stderr in its own log file: the sweeps' unit of work, so runs are independent, can use
// every core, and a partly finished sweep resumes by skipping the runs whose results exist.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace gn::sweep {

struct ChildRun {
  std::string name;               // for messages: "network 17", "alpha 1.5"
  std::vector<std::string> argv;  // argv[0] is the program (a path, or a name looked up in PATH)
  std::filesystem::path log;      // stdout and stderr, truncated first; its directory must exist
};

struct ChildOutcome {
  std::string name;
  bool ok = false;
  std::string why;  // when not ok: "exit status 3", "killed by signal 9", "cannot start ...: <errno text>"
};

// Starts the runs in order, keeps at most `jobs` (>= 1) alive, waits for all; on_done (may be empty) is
// called as each one ends, with how many have ended. Never throws for a failing child: its outcome says why.
std::vector<ChildOutcome> run_children(const std::vector<ChildRun>& runs, int jobs,
                                       const std::function<void(const ChildOutcome&, std::size_t done)>& on_done = {});

}  // namespace gn::sweep
