// Reading a bounded offset range of one partition, without a consumer group.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "kafka/client.h"

namespace kmirror::kafka {

// Reads [from, to) of one partition with a throw-away assign-only consumer (read_committed);
// returns false on timeout. Offsets without a record (markers, compaction) are skipped.
bool read_range(const Properties& props, const std::string& topic, int32_t partition, int64_t from,
                int64_t to, std::chrono::milliseconds timeout,
                const std::function<void(const rd_kafka_message_t*)>& visit);

}  // namespace kmirror::kafka
