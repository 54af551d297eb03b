// Consumer-side deduplication of records copied by kmirror (docs/dedup.md).
//
// kmirror copies at least once: after a replicator restart a suffix of a partition may be
// written twice, and in a mesh a record reaches a cluster once per path. Every copy carries the
// `kmirror.prov` header naming the original record (origin cluster, partition, offset); since
// copies keep per-partition order, remembering the highest origin offset per
// (origin cluster, topic, origin partition) is enough to drop every repeat exactly.
//
// Needs only the C++ standard library; link `kmirror_dedup`. For librdkafka messages see
// kmirror/dedup_rdkafka.h. Not thread-safe: use one instance per consumer thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace kmirror {

// Name of the record header kmirror writes (format: docs/provenance.md).
inline constexpr std::string_view kProvenanceHeaderName = "kmirror.prov";

// The hash kmirror uses for a Kafka cluster id (64-bit FNV-1a, docs/provenance.md); with
// librdkafka the id comes from rd_kafka_clusterid().
uint64_t cluster_hash(std::string_view cluster_id);

class Deduplicator {
 public:
  enum class Verdict {
    kNew,           // first time seen: process it
    kDuplicate,     // a copy of a record already seen: skip it
    kNoProvenance,  // no (valid) kmirror header, e.g. written locally: process it
  };

  // Decides for one consumed record, given the value of its `kmirror.prov` header (nullptr, 0
  // if it has none) and the topic it was read from. A kNew record becomes "seen": call it only
  // for records the application then processes.
  Verdict check(std::string_view topic, const void* prov_header_value, size_t size);

  // As above, but a record without a (valid) header is judged too, as an original of the
  // cluster it was read from (`local_cluster`, see cluster_hash()) at its own partition and
  // offset: copies of it elsewhere carry exactly that origin, so a consumer that moves between
  // clusters (failover, active-active) with its state also drops what it already saw on the
  // other side. kNoProvenance only for a negative partition or offset (not a consumed record).
  Verdict check(std::string_view topic, const void* prov_header_value, size_t size,
                uint64_t local_cluster, int32_t partition, int64_t offset);

  // Snapshot of the state (versioned binary), to store with the application's own offsets.
  std::string save() const;
  // Throws std::invalid_argument on a malformed or unknown snapshot.
  static Deduplicator restore(std::string_view snapshot);

  // Number of (origin cluster, topic, origin partition) keys tracked: memory is O(keys).
  size_t keys() const;
  // Records judged kDuplicate so far (carried across save/restore).
  uint64_t duplicates() const { return duplicates_; }

 private:
  Verdict mark(std::string_view topic, uint64_t origin, int32_t partition, int64_t offset);

  using OriginPartition = std::pair<uint64_t, int32_t>;  // origin cluster hash, partition
  // Highest origin offset seen, per topic then origin partition; std::less<> lets check()
  // look a topic up by string_view without allocating.
  std::map<std::string, std::map<OriginPartition, int64_t>, std::less<>> seen_;
  uint64_t duplicates_ = 0;
};

}  // namespace kmirror
