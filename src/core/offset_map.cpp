// Offset map logic and its v1 binary form; the layout is in docs/offset-translation.md.
#include "core/offset_map.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace kmirror::core {
namespace {

constexpr uint8_t kVersion = 1;
constexpr uint64_t kFlagFloor = 1;
constexpr size_t kMaxVarintBytes = 10;
// Offsets stay below this so that an end (one past the last offset) always fits in int64.
constexpr int64_t kMaxOffset = std::numeric_limits<int64_t>::max() - 1;
// Smallest encoded segment: three one-byte varints. Bounds what a hostile count can allocate.
constexpr size_t kMinSegmentBytes = 3;

void put_uvarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Bounds-checked cursor: every read fails instead of running past the end.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  bool done() const { return pos_ == bytes_.size(); }
  size_t remaining() const { return bytes_.size() - pos_; }

  std::optional<uint8_t> byte() {
    if (pos_ >= bytes_.size()) return std::nullopt;
    return bytes_[pos_++];
  }

  std::optional<uint64_t> uvarint() {
    uint64_t v = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      auto b = byte();
      if (!b) return std::nullopt;
      if (i == kMaxVarintBytes - 1 && *b > 1) return std::nullopt;  // would overflow 64 bits
      v |= static_cast<uint64_t>(*b & 0x7f) << (7 * i);
      if ((*b & 0x80) == 0) return v;
    }
    return std::nullopt;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// `base + delta` if the sum is a valid offset (<= kMaxOffset).
std::optional<int64_t> add_offset(int64_t base, uint64_t delta) {
  if (delta > static_cast<uint64_t>(kMaxOffset - base)) return std::nullopt;
  return base + static_cast<int64_t>(delta);
}

void encode_segments(std::span<const OffsetSegment> segs, std::optional<int64_t> floor,
                     std::string& out) {
  out.push_back(static_cast<char>(kVersion));
  put_uvarint(floor ? kFlagFloor : 0, out);
  if (floor) put_uvarint(static_cast<uint64_t>(*floor), out);
  put_uvarint(segs.size(), out);
  // Deltas from the previous segment's ends: gaps are small, so most segments take 3-4 bytes.
  int64_t src_end = 0;
  int64_t tgt_end = 0;
  for (const auto& seg : segs) {
    put_uvarint(static_cast<uint64_t>(seg.src_start - src_end), out);
    put_uvarint(static_cast<uint64_t>(seg.tgt_start - tgt_end), out);
    put_uvarint(static_cast<uint64_t>(seg.length - 1), out);
    src_end = seg.src_end();
    tgt_end = seg.tgt_end();
  }
}

}  // namespace

OffsetMap::Recorded OffsetMap::record(SourceOffset s, TargetOffset t) {
  if (s.value < 0 || t.value < 0 || s.value > kMaxOffset || t.value > kMaxOffset) {
    return Recorded::kRejected;
  }
  if (segments_.empty()) {
    if (floor_ && s.value < *floor_) floor_ = s.value;
    segments_.push_back({s.value, t.value, 1});
    return Recorded::kAppended;
  }
  OffsetSegment& last = segments_.back();
  // A re-sent suffix after a restart: the first copy stays the translation target.
  if (s.value < last.src_end()) return Recorded::kDuplicate;
  if (t.value < last.tgt_end()) return Recorded::kRejected;
  append({s.value, t.value, 1});
  return Recorded::kAppended;
}

void OffsetMap::append(OffsetSegment seg) {
  if (!segments_.empty()) {
    OffsetSegment& last = segments_.back();
    if (seg.src_start == last.src_end() && seg.tgt_start == last.tgt_end()) {
      last.length += seg.length;
      return;
    }
  }
  segments_.push_back(seg);
}

void OffsetMap::set_floor(SourceOffset s) {
  if (s.value < 0 || s.value > kMaxOffset) return;
  floor_ = segments_.empty() ? s.value : std::min(s.value, segments_.front().src_start);
}

std::optional<SourceOffset> OffsetMap::floor() const {
  if (segments_.empty()) return std::nullopt;
  return SourceOffset{floor_ ? *floor_ : segments_.front().src_start};
}

std::optional<SourceOffset> OffsetMap::last_source() const {
  if (segments_.empty()) return std::nullopt;
  return SourceOffset{segments_.back().src_end() - 1};
}

std::optional<TargetOffset> OffsetMap::last_target() const {
  if (segments_.empty()) return std::nullopt;
  return TargetOffset{segments_.back().tgt_end() - 1};
}

Translation OffsetMap::lookup(SourceOffset c) const {
  Translation out;
  auto lowest = floor();
  if (!lowest || c < *lowest) return out;  // kUnknown

  // First segment holding a record at or after c; ends increase with starts.
  auto it = std::partition_point(segments_.begin(), segments_.end(), [&](const OffsetSegment& seg) {
    return seg.src_end() <= c.value;
  });
  if (it == segments_.end()) {
    out.kind = Translation::Kind::kCaughtUp;
    out.target = out.after_previous = TargetOffset{segments_.back().tgt_end()};
    return out;
  }
  out.kind = Translation::Kind::kExact;
  if (c.value > it->src_start) {
    // Inside a segment the target is contiguous: the previous record's copy is right before.
    out.target = out.after_previous = TargetOffset{it->tgt_start + (c.value - it->src_start)};
    return out;
  }
  // At a segment start or in the source gap before it.
  out.target = TargetOffset{it->tgt_start};
  out.after_previous =
      it == segments_.begin() ? out.target : TargetOffset{std::prev(it)->tgt_end()};
  return out;
}

std::optional<TargetOffset> OffsetMap::translate(SourceOffset c) const {
  Translation t = lookup(c);
  if (!t.known()) return std::nullopt;
  return t.target;
}

std::optional<SourceOffset> OffsetMap::reverse_translate(TargetOffset t) const {
  if (segments_.empty() || t.value < segments_.front().tgt_start) return std::nullopt;
  auto it = std::partition_point(segments_.begin(), segments_.end(), [&](const OffsetSegment& seg) {
    return seg.tgt_end() <= t.value;
  });
  if (it == segments_.end()) return SourceOffset{segments_.back().src_end()};
  return SourceOffset{it->src_start + std::max<int64_t>(0, t.value - it->tgt_start)};
}

void OffsetMap::trim_before(SourceOffset s) {
  if (segments_.empty()) return;
  auto it = std::partition_point(segments_.begin(), segments_.end(), [&](const OffsetSegment& seg) {
    return seg.src_end() <= s.value;
  });
  if (it == segments_.end()) it = std::prev(it);  // keep the last segment
  if (it == segments_.begin()) return;
  segments_.erase(segments_.begin(), it);
  // Nothing copied lies between s and the new first segment (it would have been in a dropped
  // segment ending at or before s), so translation there stays exact.
  floor_ = std::min(s.value, segments_.front().src_start);
}

std::string OffsetMap::encode() const {
  std::string out;
  encode_segments(segments_, floor_, out);
  return out;
}

std::string OffsetMap::encode_since(SourceOffset from) const {
  auto it = std::partition_point(segments_.begin(), segments_.end(), [&](const OffsetSegment& seg) {
    return seg.src_end() <= from.value;
  });
  std::string out;
  encode_segments(std::span<const OffsetSegment>(it, segments_.end()), std::nullopt, out);
  return out;
}

std::optional<OffsetMap> OffsetMap::decode(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  auto version = r.byte();
  if (!version || *version != kVersion) return std::nullopt;
  auto flags = r.uvarint();
  if (!flags || (*flags & ~kFlagFloor) != 0) return std::nullopt;

  OffsetMap map;
  if (*flags & kFlagFloor) {
    auto floor = r.uvarint();
    if (!floor || *floor > static_cast<uint64_t>(kMaxOffset)) return std::nullopt;
    map.floor_ = static_cast<int64_t>(*floor);
  }
  auto n = r.uvarint();
  if (!n || *n > r.remaining() / kMinSegmentBytes) return std::nullopt;
  map.segments_.reserve(*n);

  int64_t src_end = 0;
  int64_t tgt_end = 0;
  for (uint64_t i = 0; i < *n; ++i) {
    auto src_gap = r.uvarint();
    auto tgt_gap = src_gap ? r.uvarint() : std::nullopt;
    auto length_minus_1 = tgt_gap ? r.uvarint() : std::nullopt;
    if (!length_minus_1) return std::nullopt;
    auto src_start = add_offset(src_end, *src_gap);
    auto tgt_start = add_offset(tgt_end, *tgt_gap);
    if (!src_start || !tgt_start) return std::nullopt;
    // The last offset of the segment must be valid too, so both ends fit in int64.
    auto src_last = add_offset(*src_start, *length_minus_1);
    auto tgt_last = add_offset(*tgt_start, *length_minus_1);
    if (!src_last || !tgt_last) return std::nullopt;
    map.append({*src_start, *tgt_start, static_cast<int64_t>(*length_minus_1) + 1});
    src_end = *src_last + 1;
    tgt_end = *tgt_last + 1;
  }
  if (!r.done()) return std::nullopt;
  if (map.floor_ && !map.segments_.empty() && *map.floor_ > map.segments_.front().src_start) {
    return std::nullopt;
  }
  return map;
}

bool OffsetMap::merge(const OffsetMap& tail) {
  auto it = tail.segments_.begin();
  if (segments_.empty()) {
    if (it == tail.segments_.end()) return true;
    if (!floor_) floor_ = tail.floor_;
    if (floor_) floor_ = std::min(*floor_, it->src_start);
  } else {
    const OffsetSegment& last = segments_.back();
    it = std::partition_point(it, tail.segments_.end(), [&](const OffsetSegment& seg) {
      return seg.src_end() <= last.src_end();
    });
    if (it == tail.segments_.end()) return true;  // all already recorded: keep the first copies
    // Clip a segment that straddles our last source offset, as record() would pair by pair.
    OffsetSegment first = *it;
    int64_t overlap = std::max<int64_t>(0, last.src_end() - first.src_start);
    first.src_start += overlap;
    first.tgt_start += overlap;
    first.length -= overlap;
    if (first.tgt_start < last.tgt_end()) return false;
    append(first);
    ++it;
  }
  // The rest of the tail is increasing by its own invariant.
  for (; it != tail.segments_.end(); ++it) append(*it);
  return true;
}

}  // namespace kmirror::core
