// Checks integration tests share about a replicated topic: how many records each side holds,
// waiting for a copy to complete, and comparing a target partition with its source record by
// record through the provenance header.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/provenance.h"
#include "support/records.h"

namespace kmirror::testing {

using Partitions = std::map<int32_t, std::vector<TestRecord>>;

// Sum of the topic's partition high watermarks (counts transaction markers too); throws when
// the topic is unknown.
int64_t end_offsets_sum(const std::string& bootstrap, const std::string& topic);
int64_t end_offsets_or_zero(const std::string& bootstrap, const std::string& topic);

// Records readable on the cluster (read_committed), or 0 while the topic does not exist.
size_t count_or_zero(const std::string& bootstrap, const std::string& topic);

// Polls until the topic's end offsets add up to at least `expected`.
bool wait_for_records(const std::string& bootstrap, const std::string& topic, int64_t expected,
                      std::chrono::seconds timeout,
                      std::chrono::milliseconds interval = std::chrono::milliseconds(250));

// At least `expected` records, then end offsets that stop moving (restart duplicates done).
bool wait_for_settled(const std::string& bootstrap, const std::string& topic, int64_t expected,
                      std::chrono::seconds timeout);

// Sum of the offsets group `group` has committed on the topic's partitions (kmirror's stored
// positions live in group "kmirror.<flow id>" on the target); 0 where none is committed.
int64_t committed_sum(const std::string& bootstrap, const std::string& group,
                      const std::string& topic, int partitions);

std::optional<core::Provenance> provenance_of(const TestRecord& r);

// Every source record is on the target with its content (matched through the provenance
// header's source offset), in order apart from re-sent duplicates. `from` skips the first
// target records of a partition (copies of an earlier incarnation of the topic). Returns the
// number of duplicates; failures name partition and offsets.
size_t expect_complete(const Partitions& source, const Partitions& target,
                       const std::map<int32_t, size_t>& from = {});

}  // namespace kmirror::testing
