// The exact source -> target offset map of each replicated partition, kept three ways:
// - in memory, extended by every delivery report;
// - persisted as a compacted topic on the target (`kmirror.offset-maps`), one record per
//   (flow, target topic, partition) holding the whole encoded map, trimmed to retention;
// - rebuilt from the data itself: every copy carries its source offset in the provenance
//   header, so whatever the persisted map lacks (a crash between two persists, a lost map
//   topic) is recovered by reading the target partition from where the map ends.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/offset_map.h"
#include "core/provenance.h"
#include "kafka/client.h"

namespace kmirror::replicate {

inline constexpr const char* kOffsetMapsTopic = "kmirror.offset-maps";

class OffsetMaps {
 public:
  using Key = std::pair<std::string, int32_t>;  // target topic, partition

  // `target` are the target cluster's client properties; the flow id scopes the records.
  OffsetMaps(kafka::Properties target, std::string flow_id, core::ClusterHash source,
             core::ClusterHash target_hash);

  // Reads the persisted maps of this flow (creating the topic if missing).
  void load(std::chrono::milliseconds timeout);

  // Reads the target partition from where its map ends to its current end and records every
  // copy this flow made (provenance: written by the flow's source, now on the target).
  // Returns the highest source offset found on the target, if any: the true copy frontier.
  // Copies below target offset `floor` belong to an earlier incarnation of the source topic
  // (deleted and recreated): they are ignored, and a map holding only them is dropped.
  // `known`: the partition's watermarks when the caller already asked (many at once).
  std::optional<int64_t> catch_up(const std::string& topic, int32_t partition,
                                  std::chrono::milliseconds timeout, int64_t floor = 0,
                                  std::optional<kafka::Watermarks> known = std::nullopt);
  // Drops a partition's map: its source topic was recreated, its old offsets mean nothing.
  void restart(const std::string& topic, int32_t partition);

  void record(const std::string& topic, int32_t partition, int64_t source_offset,
              int64_t target_offset);
  struct Copy {
    const std::string* topic;  // the target topic, owned by the caller
    int32_t partition;
    int64_t source_offset;
    int64_t target_offset;
  };
  // Records many copies under one lock; a run of copies of one partition costs one lookup
  // (delivery reports come in runs, one per produce request).
  void record_all(const std::vector<Copy>& copies);
  core::Translation lookup(const std::string& topic, int32_t partition, int64_t source_offset);
  // The source offset of the first copy at or after `target_offset` (see OffsetMap).
  std::optional<int64_t> reverse_lookup(const std::string& topic, int32_t partition,
                                        int64_t target_offset);
  // The last recorded (source offset, target offset) pair of a partition.
  std::optional<std::pair<int64_t, int64_t>> last_recorded(const std::string& topic,
                                                           int32_t partition);
  // The lowest source offset whose copy the map holds (where the flow began copying, unless
  // trimmed since).
  std::optional<int64_t> first_recorded(const std::string& topic, int32_t partition);
  // True when the copy of exactly `source_offset` is in the map.
  bool recorded(const std::string& topic, int32_t partition, int64_t source_offset);

  // Writes changed maps to the compacted topic; trims each below `source_low` when known.
  void persist(const std::map<Key, int64_t>& source_low = {});
  // Waits until persisted maps are acknowledged (shutdown).
  void flush(std::chrono::milliseconds timeout);

 private:
  std::string record_key(const Key& key) const;

  kafka::Properties target_props_;
  std::string flow_id_;
  core::ClusterHash source_hash_;
  core::ClusterHash target_hash_;
  std::mutex mu_;
  std::map<Key, core::OffsetMap> maps_;
  std::map<Key, bool> dirty_;
  kafka::KafkaPtr producer_;
};

}  // namespace kmirror::replicate
