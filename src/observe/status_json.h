// The /status document: one JSON shape shared by the HTTP endpoint, `kmirror status` and the
// dashboard, so the three never disagree on a name or a unit.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "observe/events.h"
#include "replicate/flow.h"

namespace kmirror::observe {

// Version of the document's shape; bumped when a field changes meaning or disappears.
inline constexpr int kStatusSchema = 1;

nlohmann::json flow_json(const replicate::FlowStatus& flow);

// {"schema", "version", "time_ms", "ready", "not_ready", "flows": [...], "events": [...]}.
nlohmann::json status_json(const std::vector<replicate::FlowStatus>& flows,
                           const std::vector<Event>& events, const std::string& version,
                           int64_t now_ms);

struct Readiness {
  bool ready = false;
  // One line per reason the instance is not ready (empty when ready).
  std::vector<std::string> reasons;
};

// Ready when there is a flow, every flow is replicating and reaches both of its clusters.
Readiness readiness(const std::vector<replicate::FlowStatus>& flows);

}  // namespace kmirror::observe
