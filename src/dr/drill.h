// `kmirror drill`: the whole failover cycle on a dedicated drill topic, with a test producer
// and a test consumer group, ending in a report of what was lost, duplicated and moved.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "dr/failover.h"

namespace kmirror::dr {

struct DrillReport {
  std::string topic;
  bool ok = false;
  std::string message;
  int64_t produced_on_source = 0;
  int64_t produced_on_target = 0;  // during the failover
  int64_t copied = 0;              // on the target after the failover
  int64_t copied_back = 0;         // to the source by the failback
  int64_t consumed = 0;            // by the test group, across both moves
  int64_t lost = 0;                // produced and never consumed
  int64_t duplicates_before_dedup = 0;
  int64_t duplicates_after_dedup = 0;
  int64_t rpo_records = 0;                            // planned failover: 0 expected
  bool offsets_exact = false;                         // no re-delivery and no skip at either move
  std::vector<std::pair<std::string, double>> steps;  // step, seconds
};

struct DrillOptions {
  int records = 3000;
  Progress progress;
};

// Runs the drill for `flow` (its clusters) on a new topic `kmirror-drill-<time>`.
DrillReport drill(const config::Config& cfg, const config::FlowConfig& flow,
                  const DrillOptions& options);

}  // namespace kmirror::dr
