// `kmirror failover` and `kmirror failback`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "dr/drill.h"
#include "dr/failover.h"

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

// The human-readable reports, shared with `kmirror demo --failover`.
void print_failover_report(const dr::FailoverReport& report);
void print_failback_report(const dr::FailbackReport& report);
nlohmann::json drill_report_json(const dr::DrillReport& report);
void print_drill_report(const dr::DrillReport& report, const std::string& source,
                        const std::string& target);

}  // namespace kmirror::cli
