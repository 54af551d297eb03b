// `kmirror failover` and `kmirror failback`.
#pragma once

#include <string>

namespace kmirror::cli {

struct DrOptions {
  std::string config_path;
  std::string flow;
  bool planned = false;
  bool unplanned = false;
  bool json = false;
  int producers_timeout_s = 120;
  int drain_timeout_s = 600;
};

int failover_command(const DrOptions& options);
// Without a config: on two embedded local clusters. Exit 1 when anything was lost.
int drill_command(const DrOptions& options, int records);
int failback_command(const DrOptions& options);

}  // namespace kmirror::cli
