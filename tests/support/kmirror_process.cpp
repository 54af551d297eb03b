#include "support/kmirror_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness/kafka_cluster.h"
#include "kafka/client.h"

#ifndef KMIRROR_BINARY
#error "KMIRROR_BINARY must name the kmirror executable (set by CMake)"
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace kmirror::testing {
namespace {

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    // Signals blocked by the test runner must not stay blocked in kmirror.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    std::string bin = KMIRROR_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

KmirrorProcess::KmirrorProcess(const std::string& config_yaml, std::vector<std::string> extra_args)
    : dir_(harness::make_temp_dir("kmirror-proc")) {
  std::ofstream(dir_ / "kmirror.yaml") << config_yaml;
  std::vector<std::string> args = {"run", "--config", (dir_ / "kmirror.yaml").string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = spawn(args, dir_ / "output.log");
}

std::unique_ptr<KmirrorProcess> KmirrorProcess::start(const std::vector<std::string>& args) {
  std::unique_ptr<KmirrorProcess> p(new KmirrorProcess());
  p->dir_ = harness::make_temp_dir("kmirror-proc");
  p->pid_ = spawn(args, p->dir_ / "output.log");
  return p;
}

KmirrorProcess::~KmirrorProcess() {
  kill9();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool KmirrorProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = decode_status(status);
    pid_ = -1;
    return false;
  }
  return true;
}

void KmirrorProcess::kill9() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  exit_code_ = decode_status(status);
  pid_ = -1;
}

int KmirrorProcess::wait_exit(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(50ms);
  }
  return exit_code_;
}

int KmirrorProcess::terminate(std::chrono::seconds timeout, int signal) {
  // A signal sent before kmirror's main() blocked it would kill it outright (exit 128 + n):
  // wait (briefly) until the main thread's blocked set holds it.
  kafka::wait_until([&] { return !running() || blocks_signal(signal); }, std::chrono::seconds(10),
                    std::chrono::milliseconds(5));
  if (running()) ::kill(pid_, signal);
  int rc = wait_exit(timeout);
  if (rc == -1) {
    print_thread_stacks();
    kill9();
    return -1;
  }
  return rc;
}

bool KmirrorProcess::blocks_signal(int signal) const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("SigBlk:", 0) != 0) continue;
    const uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> (signal - 1)) & 1U;
  }
  return false;
}

void KmirrorProcess::print_thread_stacks() const {
  // Where a process that does not stop is stuck: every thread's stack, when gdb is installed.
  if (::system("command -v gdb >/dev/null 2>&1") != 0) return;
  std::string cmd = "gdb -p " + std::to_string(pid_) +
                    " -batch -nx -ex 'thread apply all bt 30' 2>/dev/null | grep -E '^(Thread|#)'";
  std::cerr << "kmirror (pid " << pid_ << ") did not stop in time; its threads:" << std::endl;
  if (FILE* in = ::popen(cmd.c_str(), "r")) {
    char line[1024];
    while (std::fgets(line, sizeof(line), in) != nullptr) std::cerr << line;
    ::pclose(in);
  }
}

std::string KmirrorProcess::output() const {
  std::ifstream in(dir_ / "output.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long KmirrorProcess::peak_rss_kib() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

int KmirrorProcess::run_to_end(const std::vector<std::string>& args, std::string& output,
                               std::chrono::seconds timeout) {
  fs::path dir = harness::make_temp_dir("kmirror-cmd");
  pid_t pid = spawn(args, dir / "output.log");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  int rc = -1;
  while (true) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      rc = decode_status(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::ifstream in(dir / "output.log");
  std::stringstream ss;
  ss << in.rdbuf();
  output = ss.str();
  fs::remove_all(dir);
  return rc;
}

std::string two_cluster_config(const std::string& a_bootstrap, const std::string& b_bootstrap,
                               const std::string& flow_id, const std::string& include_regex,
                               const std::string& flow_extra) {
  std::string yaml =
      "clusters:\n"
      "  - name: a\n"
      "    bootstrap_servers: \"" +
      a_bootstrap +
      "\"\n"
      "  - name: b\n"
      "    bootstrap_servers: \"" +
      b_bootstrap +
      "\"\n"
      "flows:\n"
      "  - source: a\n"
      "    target: b\n"
      "    id: " +
      flow_id +
      "\n"
      "    sync_interval: 2s\n"
      "    commit_interval: 500ms\n"
      "    topics:\n"
      "      include: [\"" +
      include_regex + "\"]\n" + flow_extra + "http:\n  enabled: false\n";
  return yaml;
}

std::string with_http(std::string yaml) {
  const std::string off = "http:\n  enabled: false\n";
  auto pos = yaml.rfind(off);
  if (pos == std::string::npos) throw std::logic_error("unexpected config layout");
  return yaml.replace(pos, off.size(), "http:\n  bind: 127.0.0.1:0\n");
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace kmirror::testing
