// The provenance header kmirror adds to every record it writes (format: docs/provenance.md).
// It lists the clusters the record has been written to (loop prevention), where the record was
// first produced (dedup key) and the partition/offset it was copied from (offset translation).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kmirror::core {

inline constexpr std::string_view kProvenanceHeader = "kmirror.prov";
inline constexpr uint8_t kProvenanceVersion = 1;
// Bounds the header size and the work a hostile header can cause; a mesh has far fewer hops.
inline constexpr size_t kMaxVisited = 16;

// 64-bit FNV-1a of Kafka's cluster id: compact and stable, so headers stay small.
using ClusterHash = uint64_t;
ClusterHash hash_cluster_id(std::string_view cluster_id);

struct Provenance {
  // Clusters the record has been written to, in write order; visited[0] is its origin.
  std::vector<ClusterHash> visited;
  int32_t origin_partition = 0;
  int64_t origin_offset = 0;
  int32_t source_partition = 0;  // the hop this copy came from (== origin on the first hop)
  int64_t source_offset = 0;

  ClusterHash origin() const { return visited.empty() ? 0 : visited.front(); }
  bool has_visited(ClusterHash cluster) const;

  bool operator==(const Provenance&) const = default;
};

// Appends the binary encoding of `p` to `out` (cleared first). Throws std::invalid_argument if
// `p` could not be decoded back (visited empty or longer than kMaxVisited, negative partition or
// offset): writing a header nobody can read would silently break loop prevention.
void encode(const Provenance& p, std::string& out);
std::string encode(const Provenance& p);

// Decodes a header value; nullopt for anything malformed (never crashes, never throws).
std::optional<Provenance> decode(std::span<const uint8_t> bytes);

// The provenance of the copy written to `target`, for a record read at (partition, offset) of
// a topic on cluster `source`. `existing` is the decoded header of the record, if any.
Provenance next_hop(const std::optional<Provenance>& existing, ClusterHash source,
                    ClusterHash target, int32_t partition, int64_t offset);
// The same into `out`, reusing its storage: the copy path calls it once per record.
void next_hop(const std::optional<Provenance>& existing, ClusterHash source, ClusterHash target,
              int32_t partition, int64_t offset, Provenance& out);

// The loop rule: a record is never written into a cluster it has already been written to.
inline bool must_skip(const std::optional<Provenance>& p, ClusterHash target) {
  return p.has_value() && p->has_visited(target);
}

}  // namespace kmirror::core
