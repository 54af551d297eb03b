// Exact source -> target offset translation for one replicated partition
// (docs/offset-translation.md). Records are copied in order, so the map is monotone and kept as
// run-length segments; a new segment starts only where the source or the target skips offsets.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kmirror::core {

// Distinct types so a source offset can never be passed where a target offset is meant.
struct SourceOffset {
  int64_t value = 0;
  auto operator<=>(const SourceOffset&) const = default;
};

struct TargetOffset {
  int64_t value = 0;
  auto operator<=>(const TargetOffset&) const = default;
};

// Source offsets [src_start, src_start + length) were copied to [tgt_start, tgt_start + length).
struct OffsetSegment {
  int64_t src_start = 0;
  int64_t tgt_start = 0;
  int64_t length = 0;

  int64_t src_end() const { return src_start + length; }  // one past the last
  int64_t tgt_end() const { return tgt_start + length; }
  bool operator==(const OffsetSegment&) const = default;
};

struct Translation {
  enum class Kind {
    kExact,     // `target` is the copy of the first replicated record at or after the offset
    kCaughtUp,  // the offset is past every recorded record: `target` = last copy + 1
    kUnknown,   // before what the map covers (trimmed or never recorded): no answer
  };
  Kind kind = Kind::kUnknown;
  // Where a consumer moved to the target resumes; meaningful unless kUnknown.
  TargetOffset target{-1};
  // Just after the copy of the last replicated record before the offset (== target unless a
  // target gap lies in between). Resuming here instead also reads target-local records written in
  // that gap (active-active), at the price of re-reading restart duplicates.
  TargetOffset after_previous{-1};

  bool exact() const { return kind == Kind::kExact; }
  bool known() const { return kind != Kind::kUnknown; }
};

class OffsetMap {
 public:
  enum class Recorded {
    kAppended,   // the pair is in the map
    kDuplicate,  // source offset at or below the last recorded one: the first copy is kept
    kRejected,   // invalid: negative offset, or target not after the last target (the target
                 // partition was recreated or the caller mixed partitions); map unchanged
  };

  // Appends one copied record: `s` was written to the target at `t`.
  Recorded record(SourceOffset s, TargetOffset t);

  // Declares that every record copied from source offset `s` on is (or will be) recorded: a
  // group committed between `s` and the first segment then translates exactly instead of being
  // unknown (e.g. a compacted partition whose first surviving record is not at the log start).
  // Call it with the position replication starts from while the map is empty. Never raised past
  // the first recorded offset.
  void set_floor(SourceOffset s);
  // The lowest source offset that translates (kExact or kCaughtUp); nullopt for an empty map.
  std::optional<SourceOffset> floor() const;

  // Translation of a committed group offset `c` on the source ("next record to read is the first
  // with offset >= c") to the target.
  Translation lookup(SourceOffset c) const;
  // lookup(c).target, or nullopt when unknown.
  std::optional<TargetOffset> translate(SourceOffset c) const;

  // The other direction: the source offset of the first record whose copy is at or after target
  // offset `t`; last source + 1 when no copy is (caught up); nullopt when `t` is before the first
  // recorded copy. In active-active, a group at `t` on this map's target has seen exactly the
  // records of this flow before the result (docs/offset-translation.md).
  std::optional<SourceOffset> reverse_translate(TargetOffset t) const;

  // Drops segments that end at or before `s` (source retention moved past them). The last
  // segment is always kept so that caught-up groups keep translating.
  void trim_before(SourceOffset s);

  size_t segments() const { return segments_.size(); }
  const std::vector<OffsetSegment>& segment_list() const { return segments_; }
  bool empty() const { return segments_.empty(); }
  std::optional<SourceOffset> last_source() const;
  std::optional<TargetOffset> last_target() const;

  // Compact versioned binary form (layout in docs/offset-translation.md), for a compacted topic.
  std::string encode() const;
  // nullopt for anything malformed; never crashes, never allocates more than the input allows.
  static std::optional<OffsetMap> decode(std::span<const uint8_t> bytes);

  // The segments that end after `from` (the tail since the last persisted point), encoded like
  // encode() but without the floor: for incremental persistence, rebuilt with merge().
  std::string encode_since(SourceOffset from) const;
  // Appends the part of `tail` that lies after this map's last source offset, as record() would
  // pair by pair. false (map unchanged) if that part's target offsets are not after ours.
  bool merge(const OffsetMap& tail);

  bool operator==(const OffsetMap&) const = default;

 private:
  // Appends a segment known to start after the last one in both source and target.
  void append(OffsetSegment seg);

  std::vector<OffsetSegment> segments_;  // strictly increasing in source and target
  std::optional<int64_t> floor_;         // <= segments_.front().src_start when set
};

}  // namespace kmirror::core
