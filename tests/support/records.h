// Test records and the few Kafka operations integration tests need around them: create a
// topic, produce records to exact partitions, read a whole topic back, compare content.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace kmirror::testing {

struct TestRecord {
  std::optional<std::string> key;    // nullopt = null key
  std::optional<std::string> value;  // nullopt = tombstone (null), "" = empty value
  // In order; duplicate names allowed; values may be binary or null.
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int64_t timestamp = -1;  // CreateTime ms; -1 = let the producer choose (produce() fills it in)
  int32_t partition = 0;
  int64_t offset = -1;  // filled in by produce() and read_all()
  bool operator==(const TestRecord&) const = default;
};

// Equal key, value, headers (in order), timestamp and partition; ignores the offset and the
// "kmirror.prov" headers kmirror adds to its copies.
bool same_content(const TestRecord& a, const TestRecord& b);

// Readable form for test failure messages (binary bytes escaped, long values shortened).
std::string describe(const TestRecord& r);
void PrintTo(const TestRecord& r, std::ostream* os);  // GoogleTest printer

// Creates the topic and waits until every partition has a leader in the metadata.
// replication_factor -1 takes the cluster's default.
void create_topic(const std::string& bootstrap, const std::string& topic, int partitions,
                  const std::map<std::string, std::string>& configs = {},
                  int replication_factor = -1);

// True when the cluster's metadata lists the topic.
bool topic_exists(const std::string& bootstrap, const std::string& topic);

// Produces each record to its explicit partition with an idempotent producer (acks=all), waits
// for all delivery reports, throws std::runtime_error on any failure, fills in offsets (and
// timestamps left at -1). `extra` overrides producer properties.
void produce(const std::string& bootstrap, const std::string& topic,
             std::vector<TestRecord>& records,
             const std::map<std::string, std::string>& extra = {});

// Reads every partition of the topic from its low watermark up to its end observed at call time
// (read_committed by default, where the end is the last stable offset; `extra` overrides
// consumer properties) and returns the records per partition in offset order. Every partition
// appears in the map, empty ones too.
std::map<int32_t, std::vector<TestRecord>> read_all(
    const std::string& bootstrap, const std::string& topic,
    const std::map<std::string, std::string>& extra = {});

// Varied records from a seeded generator: keys (some null, some empty), values (some
// tombstones, some empty, some binary with NUL bytes), 0-3 headers with duplicate names, binary
// and null values, explicit recent timestamps (within the last hour, so retention keeps them),
// partitions round-robin with some randomness. Same seed, same content (timestamps aside).
std::vector<TestRecord> make_records(uint32_t seed, int count, int partitions);

// Exact number of records in the topic, by reading it (high - low overcounts transaction
// markers and compacted gaps).
size_t count_records(const std::string& bootstrap, const std::string& topic);

}  // namespace kmirror::testing
