// Failover and failback of an active-passive flow A->B: one command each, with progress and a
// report. The state they declare is stored in the flow's target cluster (sync::FlowStateStore),
// so every kmirror process stops or resumes the flow accordingly.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "kafka/admin.h"
#include "sync/flow_state.h"

namespace kmirror::dr {

using Progress = std::function<void(const std::string& line)>;

struct PartitionRpo {
  std::string topic;
  int32_t partition = 0;
  int64_t last_copied = -1;        // highest source offset known to be on the target
  int64_t last_copied_ts_ms = -1;  // its timestamp
  int64_t source_end_known = -1;   // the source end the flow last reported before the loss
  int64_t at_risk = 0;             // records between them (markers may inflate it)
};

struct FailoverReport {
  std::string flow;
  std::string mode;  // planned | unplanned
  bool ok = false;
  std::string message;
  double seconds = 0;
  std::map<std::string, kafka::GroupOffsets> groups_on_target;
  std::vector<PartitionRpo> rpo;  // unplanned only
  sync::PartitionOffsets target_ends;
};

struct FailoverOptions {
  bool planned = true;
  std::chrono::seconds producers_timeout{120};  // planned: wait this long for producers to stop
  std::chrono::seconds drain_timeout{600};      // planned: wait this long for lag to reach 0
  Progress progress;
};

FailoverReport failover(const config::Config& cfg, const config::FlowConfig& flow,
                        const FailoverOptions& options);

struct FailbackReport {
  std::string flow;
  bool ok = false;
  std::string message;
  double seconds = 0;
  uint64_t copied_back = 0;  // records produced on the target after the failover, copied to A
  // Records that exist only on A: produced there but never copied before an unplanned failover.
  std::map<std::string, std::map<int32_t, int64_t>> only_on_source;
  std::map<std::string, kafka::GroupOffsets> groups_on_source;
};

struct FailbackOptions {
  std::chrono::seconds producers_timeout{120};
  std::chrono::seconds drain_timeout{600};
  Progress progress;
};

FailbackReport failback(const config::Config& cfg, const config::FlowConfig& flow,
                        const FailbackOptions& options);

}  // namespace kmirror::dr
