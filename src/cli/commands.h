// The sub-commands of the kmirror binary.
#pragma once

#include <atomic>
#include <string>

namespace kmirror::cli {

struct RunOptions {
  std::string config_path;
};
// Runs every flow of the configuration until `stop`; returns the process exit code.
int run_command(const RunOptions& options, const std::atomic<bool>& stop);

struct DemoOptions {
  int duration_s = 0;
  int rate = 200;
  std::string summary_file;
  bool failover = false;  // the two-region story: outage, failover, failback
  std::string hold_file;  // after the summary, keep the clusters up until this file exists
};
// Two embedded clusters, a sample producer and consumer, and a flow between them.
int demo_command(const DemoOptions& options, const std::atomic<bool>& stop);

}  // namespace kmirror::cli
