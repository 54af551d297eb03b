// Runs the real kmirror binary as a child process, so tests can kill -9 it, restart it and
// read what it printed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace kmirror::testing {

class KmirrorProcess {
 public:
  // Writes `config_yaml` to a file and starts `kmirror run --config <file>` plus `extra_args`.
  explicit KmirrorProcess(const std::string& config_yaml, std::vector<std::string> extra_args = {});
  // Starts `kmirror <args>`: any sub-command (e.g. demo).
  static std::unique_ptr<KmirrorProcess> start(const std::vector<std::string>& args);
  ~KmirrorProcess();  // kill -9 if still running
  KmirrorProcess(const KmirrorProcess&) = delete;
  KmirrorProcess& operator=(const KmirrorProcess&) = delete;

  void kill9();
  // SIGTERM (or `signal`, e.g. SIGINT for Ctrl-C), then waits for the exit; returns the exit
  // code (-1 if it had to be killed).
  int terminate(std::chrono::seconds timeout = std::chrono::seconds(60), int signal = 15);
  // Waits for the process to exit on its own; returns the exit code, -1 on timeout.
  int wait_exit(std::chrono::seconds timeout);
  bool running();
  std::string output() const;  // everything it printed so far (stdout and stderr)
  // Peak resident set size in KiB (VmHWM), while running.
  long peak_rss_kib() const;
  // Prints every thread's stack to stderr (gdb), e.g. when the process does not stop.
  void print_thread_stacks() const;
  // True once the process's main thread blocks `signal` (kmirror does so first thing).
  bool blocks_signal(int signal) const;
  pid_t pid() const { return pid_; }

  // Runs kmirror with `args` to completion (bounded), returning exit code and output.
  static int run_to_end(const std::vector<std::string>& args, std::string& output,
                        std::chrono::seconds timeout = std::chrono::seconds(120));

 private:
  KmirrorProcess() = default;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int exit_code_ = -2;
};

// A configuration with clusters "a" and "b" and one flow a->b replicating topics that match
// `include_regex`; `flow_extra` is appended to the flow (YAML lines indented by 4 spaces).
std::string two_cluster_config(const std::string& a_bootstrap, const std::string& b_bootstrap,
                               const std::string& flow_id, const std::string& include_regex,
                               const std::string& flow_extra = {});

// two_cluster_config() with the HTTP endpoint on a free loopback port.
std::string with_http(std::string yaml);

// How many times `what` appears in `text` (e.g. a log line in KmirrorProcess::output()).
size_t occurrences(const std::string& text, const std::string& what);

}  // namespace kmirror::testing
