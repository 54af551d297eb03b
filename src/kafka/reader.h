// Reading a bounded offset range of one partition, without a consumer group.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "core/provenance.h"
#include "kafka/client.h"

namespace kmirror::kafka {

// Reads [from, to) of one partition with a throw-away assign-only consumer (read_committed);
// returns false on timeout. Offsets without a record (markers, compaction) are skipped.
bool read_range(const Properties& props, const std::string& topic, int32_t partition, int64_t from,
                int64_t to, std::chrono::milliseconds timeout,
                const std::function<void(const rd_kafka_message_t*)>& visit);

// The decoded provenance header of a consumed record; nullopt when it has none or a
// malformed one.
std::optional<core::Provenance> provenance_of(const rd_kafka_message_t* m);
// The same from headers already obtained (null: none). librdkafka parses a record's headers
// again on every rd_kafka_message_headers call while it finds none: the copy path asks once.
std::optional<core::Provenance> provenance_in(const rd_kafka_headers_t* hdrs);

}  // namespace kmirror::kafka
