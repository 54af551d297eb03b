// `kmirror status`: reads /status of a running kmirror and prints flows and partitions as a
// terminal table (or the JSON itself).
#pragma once

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kmirror::observe {

struct StatusOptions {
  std::string url = "http://127.0.0.1:9644";
  bool watch = false;
  bool json = false;
  std::string token_file;   // else KMIRROR_HTTP_TOKEN
  int max_partitions = 50;  // rows of the partition table; the most lagging first beyond it
  // With a configuration: each flow's durable state (running, failed-over, failing-back) read
  // from its target cluster, whether or not an instance runs; and the lag computed from the
  // clusters when nothing answers at `url` (or always with `from_clusters`): positions stored
  // by the flows vs. source end offsets.
  std::string config_path;
  std::string flow;  // only this flow (from the clusters); empty: all
  bool from_clusters = false;
};

// Exit codes: 0 shown, 1 an unexpected answer, 2 bad usage, 3 nothing answers at the URL (with
// --config: a target cluster does not answer; a silent URL is then only mentioned), 4 shown but
// the instance is not ready (what /readyz answers 503 for: a cluster unreachable, a flow not
// replicating), so scripts and probes need not parse the output.
inline constexpr int kNotReady = 4;
int status_command(const StatusOptions& options, const std::atomic<bool>& stop);

// The table for a /status document; `previous` (an earlier document) gives records/s.
std::string render_status(const nlohmann::json& status, const nlohmann::json* previous,
                          const std::string& url, int max_partitions);

}  // namespace kmirror::observe
