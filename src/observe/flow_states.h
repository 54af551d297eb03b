// `kmirror status --config`: each flow's durable state (running, failed-over, failing-back) as
// stored in its target cluster (sync::FlowStateStore). Every kmirror instance obeys it, so it is
// the truth about a flow even when no instance runs (e.g. after a failover).
#pragma once

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "observe/status_cli.h"

namespace kmirror::observe {

// Prints the states (a table, or JSON {"flows": [{"id", "source", "target", "state", "mode",
// "since_ms"[, "error"]}]} with --json). Returns 0, 2 for a bad configuration, 3 when a target
// cluster does not answer (its flows show state "unknown"). `http_enabled` tells whether the
// configuration has instances serve /status.
int print_stored_flow_states(const StatusOptions& options, bool& http_enabled);

// The states as JSON objects {"id", "source", "target", "state", "mode", "since_ms"[, "error"]};
// `rc` becomes 3 when a target cluster does not answer.
nlohmann::json stored_flow_states(const config::Config& config, int& rc);

}  // namespace kmirror::observe
