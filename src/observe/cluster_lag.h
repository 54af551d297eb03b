// `kmirror status` when no kmirror answers: the replication lag computed from the clusters
// themselves. A flow's positions are the committed offsets of its group `kmirror.<flow id>` on
// the target cluster (keyed by target topic); the lag of a partition is the source end offset
// minus that position (or minus the source's low watermark when none is stored yet).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"

namespace kmirror::observe {

// {"source": "clusters", "time_ms", "flows": [{"id", "source": {"name"}, "target": {"name"},
// "lag", "error", "partitions": [{"topic", "target_topic", "partition", "position",
// "source_end", "lag"}]}]}. `flow_id` empty: every flow. A flow whose clusters cannot be read
// gets an "error" saying which and why, the others are still computed.
nlohmann::json cluster_status(const config::Config& config, const std::string& flow_id,
                              std::chrono::milliseconds timeout);

// The terminal table for a cluster_status() document.
std::string render_cluster_status(const nlohmann::json& doc);

}  // namespace kmirror::observe
