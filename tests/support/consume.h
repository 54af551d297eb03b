// A consumer-group reader for failover tests: reads with a group like an application would,
// committing each record, and names every record by where it was first produced.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>

namespace kmirror {
class Deduplicator;
}

namespace kmirror::testing {

// (origin cluster hash, origin partition, origin offset): the same for a record and its copies.
using RecordIdentity = std::tuple<uint64_t, int32_t, int64_t>;

// Reads `count` records of `topic` with consumer group `group` (subscribe, commit after each
// record), or until `timeout`; returns their identities. Records without a provenance header
// are named after the cluster they are read from.
std::multiset<RecordIdentity> consume_with_group(const std::string& bootstrap,
                                                 const std::string& topic, const std::string& group,
                                                 size_t count, std::chrono::seconds timeout);

// As above, and each record also goes through `dedup` (kmirror/dedup.h) like an application's
// would; `*dropped` grows by the records it judged duplicates.
std::multiset<RecordIdentity> consume_with_group(const std::string& bootstrap,
                                                 const std::string& topic, const std::string& group,
                                                 size_t count, std::chrono::seconds timeout,
                                                 Deduplicator& dedup, size_t& dropped);

}  // namespace kmirror::testing
