#include "apps/gridsearch/child_runs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "core/error.h"

extern char** environ;

namespace gn::sweep {
namespace {

// posix_spawnp with stdout and stderr redirected to the log; returns the pid, or -1 with `why` set.
pid_t spawn(const ChildRun& run, std::string& why) {
  std::vector<char*> argv;
  for (const std::string& a : run.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, run.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    why = fmt::format("cannot start {}: {}", run.argv[0], std::strerror(rc));
    return -1;
  }
  return pid;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("wait status {}", status);
}

}  // namespace

std::vector<ChildOutcome> run_children(const std::vector<ChildRun>& runs, int jobs,
                                       const std::function<void(const ChildOutcome&, std::size_t done)>& on_done) {
  GN_CHECK(jobs >= 1, "run_children: jobs must be >= 1, got {}", jobs);
  for (const ChildRun& r : runs) GN_CHECK(!r.argv.empty(), "run_children: run '{}' has no program", r.name);
  std::vector<ChildOutcome> outcomes(runs.size());
  std::map<pid_t, std::size_t> alive;
  std::size_t next = 0, done = 0;
  auto finish = [&](std::size_t i, bool ok, std::string why) {
    outcomes[i] = {runs[i].name, ok, std::move(why)};
    ++done;
    if (on_done) on_done(outcomes[i], done);
  };
  while (done < runs.size()) {
    while (next < runs.size() && alive.size() < static_cast<std::size_t>(jobs)) {
      std::string why;
      const pid_t pid = spawn(runs[next], why);
      if (pid < 0)
        finish(next, false, why);
      else
        alive[pid] = next;
      ++next;
    }
    if (alive.empty()) continue;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      GN_FAIL("run_children: waitpid failed: {}", std::strerror(errno));
    }
    const auto it = alive.find(pid);
    if (it == alive.end()) continue;  // not one of ours
    const std::size_t i = it->second;
    alive.erase(it);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    finish(i, ok, ok ? "" : describe_status(status));
  }
  return outcomes;
}

}  // namespace gn::sweep
