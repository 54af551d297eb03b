#include "core/offset_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace kmirror::core {
namespace {

// The strong types must not convert into each other.
static_assert(!std::is_convertible_v<SourceOffset, TargetOffset>);
static_assert(!std::is_convertible_v<TargetOffset, SourceOffset>);
static_assert(!std::is_convertible_v<int64_t, SourceOffset>);

using Kind = Translation::Kind;
using Seg = OffsetSegment;

SourceOffset S(int64_t v) {
  return SourceOffset{v};
}
TargetOffset T(int64_t v) {
  return TargetOffset{v};
}

void record_run(OffsetMap& m, int64_t src, int64_t tgt, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(m.record(S(src + i), T(tgt + i)), OffsetMap::Recorded::kAppended);
  }
}

std::optional<OffsetMap> decode_str(const std::string& s) {
  return OffsetMap::decode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

std::optional<OffsetMap> decode_vec(const std::vector<uint8_t>& v) {
  return OffsetMap::decode(std::span<const uint8_t>(v));
}

TEST(OffsetMap, EmptyTranslatesNothing) {
  OffsetMap m;
  EXPECT_EQ(m.segments(), 0u);
  EXPECT_FALSE(m.translate(S(0)).has_value());
  EXPECT_EQ(m.lookup(S(0)).kind, Kind::kUnknown);
  EXPECT_FALSE(m.floor().has_value());
  EXPECT_FALSE(m.last_source().has_value());
}

TEST(OffsetMap, ContiguousCopyIsOneSegment) {
  OffsetMap m;
  record_run(m, 100, 7, 1000);
  ASSERT_EQ(m.segments(), 1u);
  EXPECT_EQ(m.segment_list()[0], (Seg{100, 7, 1000}));
  EXPECT_EQ(m.last_source(), S(1099));
  EXPECT_EQ(m.last_target(), T(1006));
}

TEST(OffsetMap, CompactionGapsStartSegments) {
  // Source 0..4, then 10..14 (5..9 compacted away), written contiguously on the target.
  OffsetMap m;
  record_run(m, 0, 0, 5);
  record_run(m, 10, 5, 5);
  ASSERT_EQ(m.segments(), 2u);
  EXPECT_EQ(m.segment_list()[1], (Seg{10, 5, 5}));
  // A group at a compacted offset resumes at the next surviving record.
  for (int64_t c = 5; c <= 10; ++c) EXPECT_EQ(m.translate(S(c)), T(5)) << c;
  EXPECT_EQ(m.translate(S(12)), T(7));
}

TEST(OffsetMap, TransactionMarkersGiveOneSegmentPerTransaction) {
  // Each source transaction of 3 records is followed by a commit marker (a 1-offset gap).
  OffsetMap m;
  int64_t tgt = 0;
  for (int txn = 0; txn < 4; ++txn) {
    record_run(m, txn * 4, tgt, 3);
    tgt += 3;
  }
  EXPECT_EQ(m.segments(), 4u);
  EXPECT_EQ(m.translate(S(3)), T(3));  // committed at a marker: next record is txn 1's first
  EXPECT_EQ(m.translate(S(4)), T(3));
  EXPECT_EQ(m.translate(S(6)), T(5));
  EXPECT_EQ(m.translate(S(15)), T(12));  // after the last marker: caught up
  EXPECT_EQ(m.lookup(S(15)).kind, Kind::kCaughtUp);
}

TEST(OffsetMap, RestartDuplicatesKeepFirstCopy) {
  OffsetMap m;
  record_run(m, 0, 0, 10);  // source 0..9 -> target 0..9
  // Restart from stored position 5: 5..9 are written again at 10..14 and ignored.
  for (int64_t s = 5; s < 10; ++s) {
    EXPECT_EQ(m.record(S(s), T(s + 5)), OffsetMap::Recorded::kDuplicate);
  }
  record_run(m, 10, 15, 5);  // then new records
  ASSERT_EQ(m.segments(), 2u);
  EXPECT_EQ(m.segment_list()[1], (Seg{10, 15, 5}));
  EXPECT_EQ(m.translate(S(7)), T(7));    // the first copy: nothing skipped
  EXPECT_EQ(m.translate(S(10)), T(15));  // not re-delivering the duplicate copies
  Translation t = m.lookup(S(10));
  EXPECT_EQ(t.after_previous, T(10));  // the conservative position includes them
}

TEST(OffsetMap, InterleavedLocalTargetWrites) {
  // Active-active: the target partition also receives local writes (target gaps).
  OffsetMap m;
  record_run(m, 0, 0, 3);   // target 0..2
  record_run(m, 3, 5, 2);   // target 3,4 were local writes
  record_run(m, 5, 10, 1);  // 7..9 local
  record_run(m, 6, 11, 2);  // contiguous again: extends the segment
  ASSERT_EQ(m.segments(), 3u);
  EXPECT_EQ(m.segment_list()[2], (Seg{5, 10, 3}));
  Translation t = m.lookup(S(3));
  EXPECT_EQ(t.kind, Kind::kExact);
  EXPECT_EQ(t.target, T(5));
  EXPECT_EQ(t.after_previous, T(3));  // the local writes 3,4 lie in between
  EXPECT_EQ(m.translate(S(6)), T(11));
}

TEST(OffsetMap, TranslatePositions) {
  // Segments: [10,20) -> [100,110), [25,30) -> [110,115) (source gap), [30,40) -> [120,130).
  OffsetMap m;
  record_run(m, 10, 100, 10);
  record_run(m, 25, 110, 5);
  record_run(m, 30, 120, 10);
  ASSERT_EQ(m.segments(), 3u);

  auto expect = [&](int64_t c, Kind kind, int64_t target, int64_t after_previous) {
    Translation t = m.lookup(S(c));
    EXPECT_EQ(t.kind, kind) << "c=" << c;
    EXPECT_EQ(t.target, T(target)) << "c=" << c;
    EXPECT_EQ(t.after_previous, T(after_previous)) << "c=" << c;
  };
  expect(10, Kind::kExact, 100, 100);  // start
  expect(15, Kind::kExact, 105, 105);  // middle of a segment
  expect(19, Kind::kExact, 109, 109);  // last record of a segment
  expect(20, Kind::kExact, 110, 110);  // exactly at a source gap
  expect(23, Kind::kExact, 110, 110);  // inside the gap
  expect(25, Kind::kExact, 110, 110);  // just after the gap
  expect(26, Kind::kExact, 111, 111);
  expect(30, Kind::kExact, 120, 115);       // target gap only
  expect(39, Kind::kExact, 129, 129);       // last record
  expect(40, Kind::kCaughtUp, 130, 130);    // end
  expect(1000, Kind::kCaughtUp, 130, 130);  // beyond the end

  // Before the first segment: unknown (older than the map).
  EXPECT_EQ(m.lookup(S(9)).kind, Kind::kUnknown);
  EXPECT_FALSE(m.translate(S(9)).has_value());
  EXPECT_FALSE(m.translate(S(0)).has_value());
  EXPECT_FALSE(m.translate(S(-1)).has_value());
  EXPECT_TRUE(m.lookup(S(10)).exact());
  EXPECT_FALSE(m.lookup(S(40)).exact());
}

TEST(OffsetMap, ReverseTranslate) {
  // [10,20) -> [100,110), [25,30) -> [113,118): target 110..112 are local writes.
  OffsetMap m;
  EXPECT_FALSE(m.reverse_translate(T(0)).has_value());
  record_run(m, 10, 100, 10);
  record_run(m, 25, 113, 5);
  EXPECT_FALSE(m.reverse_translate(T(99)).has_value());  // before the first copy
  EXPECT_EQ(m.reverse_translate(T(100)), S(10));
  EXPECT_EQ(m.reverse_translate(T(105)), S(15));
  EXPECT_EQ(m.reverse_translate(T(110)), S(25));  // local writes: next copy is source 25
  EXPECT_EQ(m.reverse_translate(T(113)), S(25));
  EXPECT_EQ(m.reverse_translate(T(117)), S(29));
  EXPECT_EQ(m.reverse_translate(T(118)), S(30));  // caught up
  EXPECT_EQ(m.reverse_translate(T(5000)), S(30));
}

TEST(OffsetMap, ActiveActiveMoveWithBothDirections) {
  // Partition p on A and on B, each holding local records and copies from the other side.
  // A: a0 a1 [b0] a2 [b1] a3      B: b0 [a0] [a1] b1 [a2] b2 [a3]   ([x] = copy of x)
  OffsetMap a_to_b;  // A-origin records: A offset -> B offset
  a_to_b.record(S(0), T(1));
  a_to_b.record(S(1), T(2));
  a_to_b.record(S(3), T(4));
  a_to_b.record(S(5), T(6));
  OffsetMap b_to_a;  // B-origin records: B offset -> A offset (b2 not copied yet)
  b_to_a.record(S(0), T(2));
  b_to_a.record(S(3), T(4));
  // A group on A committed 4 (read a0 a1 b0 a2, next is b1). Its next A-origin record is a3,
  // at B offset 6; its next B-origin record is b1, at B offset 3. Resuming at the smaller
  // skips nothing of either origin; a2 (B offset 4) is read again, which dedup drops.
  auto a_side = a_to_b.translate(S(4));
  auto b_side = b_to_a.reverse_translate(T(4));
  ASSERT_TRUE(a_side && b_side);
  EXPECT_EQ(*a_side, T(6));
  EXPECT_EQ(*b_side, S(3));  // a B offset: both are positions on B
  EXPECT_EQ(std::min(a_side->value, b_side->value), 3);
  // Committed 6 (read everything on A): B-origin records from B offset 4 on never reached A,
  // so b2 (B offset 5) is still unseen; [a2] at 4 is re-read and dropped.
  EXPECT_EQ(a_to_b.translate(S(6)), T(7));
  EXPECT_EQ(b_to_a.reverse_translate(T(6)), S(4));
}

TEST(OffsetMap, FloorMakesOffsetsBeforeFirstRecordExact) {
  // A compacted partition copied from its log start 0, first surviving record at 7.
  OffsetMap m;
  m.set_floor(S(0));
  EXPECT_FALSE(m.translate(S(0)).has_value());  // no target known yet
  record_run(m, 7, 0, 3);
  EXPECT_EQ(m.floor(), S(0));
  EXPECT_EQ(m.translate(S(0)), T(0));
  EXPECT_EQ(m.translate(S(6)), T(0));
  // The floor never rises above the first record.
  m.set_floor(S(8));
  EXPECT_EQ(m.floor(), S(7));
  EXPECT_EQ(m.translate(S(7)), T(0));
}

TEST(OffsetMap, InvalidRecordsRejected) {
  OffsetMap m;
  EXPECT_EQ(m.record(S(-1), T(0)), OffsetMap::Recorded::kRejected);
  EXPECT_EQ(m.record(S(0), T(-1)), OffsetMap::Recorded::kRejected);
  record_run(m, 0, 10, 2);
  // A target going backwards (recreated target partition): refused, map unchanged.
  EXPECT_EQ(m.record(S(2), T(11)), OffsetMap::Recorded::kRejected);
  EXPECT_EQ(m.record(S(2), T(3)), OffsetMap::Recorded::kRejected);
  EXPECT_EQ(m.last_source(), S(1));
  EXPECT_EQ(m.record(S(2), T(12)), OffsetMap::Recorded::kAppended);
  EXPECT_EQ(m.segments(), 1u);
}

TEST(OffsetMap, TrimDropsWholeSegmentsOnly) {
  OffsetMap m;
  record_run(m, 0, 0, 10);
  record_run(m, 20, 10, 10);
  record_run(m, 40, 20, 10);
  m.trim_before(S(5));  // inside the first segment: kept whole
  EXPECT_EQ(m.segments(), 3u);
  EXPECT_EQ(m.translate(S(0)), T(0));
  m.trim_before(S(15));  // past the first segment, in the gap before the second
  ASSERT_EQ(m.segments(), 2u);
  EXPECT_EQ(m.floor(), S(15));
  EXPECT_FALSE(m.translate(S(9)).has_value());
  EXPECT_EQ(m.translate(S(15)), T(10));  // nothing copied between 15 and 20
  EXPECT_EQ(m.translate(S(25)), T(15));
  m.trim_before(S(45));
  ASSERT_EQ(m.segments(), 1u);
  EXPECT_EQ(m.floor(), S(40));  // the kept segment translates from its start
  EXPECT_EQ(m.translate(S(40)), T(20));
  m.trim_before(S(1000));  // the last segment is always kept: caught-up groups still translate
  ASSERT_EQ(m.segments(), 1u);
  EXPECT_EQ(m.lookup(S(1000)).kind, Kind::kCaughtUp);
  EXPECT_EQ(m.translate(S(1000)), T(30));
}

TEST(OffsetMap, EncodeDecodeRoundTrip) {
  OffsetMap m;
  m.set_floor(S(3));
  record_run(m, 5, 0, 100);
  record_run(m, 106, 100, 1);
  record_run(m, 200, 1000, 50);
  record_run(m, (int64_t{1} << 62), (int64_t{1} << 61), 3);
  std::string bytes = m.encode();
  auto back = decode_str(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, m);
  EXPECT_EQ(back->floor(), S(3));
  // Compact: version, flags, floor, count, then a few bytes per segment.
  EXPECT_LT(bytes.size(), 40u);

  OffsetMap empty;
  auto empty_back = decode_str(empty.encode());
  ASSERT_TRUE(empty_back.has_value());
  EXPECT_EQ(*empty_back, empty);
}

TEST(OffsetMap, GoldenBytes) {
  OffsetMap m;
  record_run(m, 0, 0, 3);
  record_run(m, 4, 3, 2);  // source gap of 1 (a transaction marker)
  // version 1, flags 0, 2 segments: (0,0,len 3), (gap 1, gap 0, len 2).
  const std::vector<uint8_t> expected = {0x01, 0x00, 0x02, 0x00, 0x00, 0x02, 0x01, 0x00, 0x01};
  std::string bytes = m.encode();
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), expected);
}

TEST(OffsetMap, DecodeRejectsMalformed) {
  EXPECT_FALSE(decode_vec({}).has_value());
  EXPECT_FALSE(decode_vec({0x02, 0x00, 0x00}).has_value());              // unknown version
  EXPECT_FALSE(decode_vec({0x01, 0x02, 0x00}).has_value());              // unknown flag
  EXPECT_FALSE(decode_vec({0x01, 0x00}).has_value());                    // truncated
  EXPECT_FALSE(decode_vec({0x01, 0x00, 0x01, 0x00, 0x00}).has_value());  // truncated segment
  EXPECT_FALSE(decode_vec({0x01, 0x00, 0x00, 0x00}).has_value());        // trailing byte
  // A huge count with no data behind it must fail before allocating.
  EXPECT_FALSE(
      decode_vec({0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}).has_value());
  // Offsets overflowing int64: start 2^63-1 is past the last valid offset.
  EXPECT_FALSE(decode_vec({0x01, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                           0x00, 0x00})
                   .has_value());
  // 11-byte varint.
  EXPECT_FALSE(decode_vec({0x01, 0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                           0x80, 0x00, 0x00, 0x00})
                   .has_value());
  // Floor above the first segment.
  EXPECT_FALSE(decode_vec({0x01, 0x01, 0x05, 0x01, 0x00, 0x00, 0x00}).has_value());
  EXPECT_TRUE(decode_vec({0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00}).has_value());
}

TEST(OffsetMap, DecodeSurvivesGarbageAndMutations) {
  std::mt19937_64 rng(42);
  OffsetMap m;
  m.set_floor(S(0));
  record_run(m, 3, 0, 5);
  record_run(m, 10, 8, 5);
  record_run(m, 1000, 900, 2);
  const std::string good = m.encode();
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 40);
      for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    } else {
      bytes.assign(good.begin(), good.end());
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
      if (rng() % 3 == 0) bytes.resize(rng() % (bytes.size() + 1));
    }
    auto decoded = decode_vec(bytes);
    if (!decoded) continue;
    // Whatever decodes is a valid map: strictly increasing and canonical, and re-encodes to a
    // form that decodes to the same map.
    const auto& segs = decoded->segment_list();
    for (size_t k = 0; k < segs.size(); ++k) {
      ASSERT_GE(segs[k].length, 1);
      if (k > 0) {
        ASSERT_GE(segs[k].src_start, segs[k - 1].src_end());
        ASSERT_GE(segs[k].tgt_start, segs[k - 1].tgt_end());
      }
    }
    auto again = decode_str(decoded->encode());
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, *decoded);
  }
}

TEST(OffsetMap, EncodeSinceAndMergeRebuildTheMap) {
  OffsetMap m;
  record_run(m, 0, 0, 10);
  OffsetMap persisted = m;  // what an earlier snapshot held
  record_run(m, 12, 10, 5);
  record_run(m, 20, 20, 5);

  // Tail since source offset 5: includes the straddling first segment, clipped on merge.
  auto tail = decode_str(m.encode_since(S(5)));
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(tail->segments(), 3u);
  ASSERT_TRUE(persisted.merge(*tail));
  EXPECT_EQ(persisted.segment_list(), m.segment_list());
  // Merging again changes nothing: everything is already recorded (first copies kept).
  ASSERT_TRUE(persisted.merge(*tail));
  EXPECT_EQ(persisted.segment_list(), m.segment_list());

  // A tail whose targets are not after ours is refused without changes.
  OffsetMap bad;
  record_run(bad, 30, 5, 3);
  EXPECT_FALSE(persisted.merge(bad));
  EXPECT_EQ(persisted.segment_list(), m.segment_list());

  // A tail that continues contiguously extends the last segment.
  OffsetMap next;
  record_run(next, 25, 25, 5);
  ASSERT_TRUE(persisted.merge(next));
  EXPECT_EQ(persisted.segments(), 3u);
  EXPECT_EQ(persisted.segment_list().back(), (Seg{20, 20, 10}));

  // A snapshot taken in the middle of a segment: the straddling tail segment is clipped.
  OffsetMap partial;
  record_run(partial, 0, 0, 7);
  ASSERT_TRUE(partial.merge(*decode_str(m.encode_since(S(5)))));
  EXPECT_EQ(partial.segment_list(), m.segment_list());

  // Into an empty map: a plain copy.
  OffsetMap fresh;
  ASSERT_TRUE(fresh.merge(m));
  EXPECT_EQ(fresh.segment_list(), m.segment_list());
}

// Brute-force model: every recorded pair, plus the last ones for the duplicate/reject rules.
struct Model {
  std::map<int64_t, int64_t> pairs;  // source -> target of the first copy

  OffsetMap::Recorded record(int64_t s, int64_t t) {
    if (!pairs.empty()) {
      auto last = std::prev(pairs.end());
      if (s <= last->first) return OffsetMap::Recorded::kDuplicate;
      if (t <= last->second) return OffsetMap::Recorded::kRejected;
    }
    pairs[s] = t;
    return OffsetMap::Recorded::kAppended;
  }

  // (target, after_previous); caught-up when c is past every pair.
  std::pair<int64_t, int64_t> translate(int64_t c) const {
    auto it = pairs.lower_bound(c);
    int64_t target = it == pairs.end() ? std::prev(it)->second + 1 : it->second;
    int64_t after_previous = it == pairs.begin() ? target : std::prev(it)->second + 1;
    return {target, after_previous};
  }

  size_t runs() const {
    size_t n = 0;
    std::optional<std::pair<int64_t, int64_t>> prev;
    for (const auto& p : pairs) {
      if (!prev || p.first != prev->first + 1 || p.second != prev->second + 1) ++n;
      prev = p;
    }
    return n;
  }
};

TEST(OffsetMap, RandomizedAgainstModel) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    OffsetMap m;
    OffsetMap untrimmed;  // same records, never trimmed: checked in full at the end
    Model model;
    int64_t next_src = static_cast<int64_t>(rng() % 50);
    int64_t next_tgt = static_cast<int64_t>(rng() % 50);
    int64_t trimmed_to = -1;  // highest trim bound so far
    for (int op = 0; op < 3000; ++op) {
      uint64_t dice = rng() % 100;
      if (dice < 70) {
        // Mostly contiguous copies, sometimes with a source and/or target gap.
        int64_t s = next_src + (rng() % 5 == 0 ? static_cast<int64_t>(rng() % 4) : 0);
        int64_t t = next_tgt + (rng() % 6 == 0 ? static_cast<int64_t>(rng() % 3) : 0);
        ASSERT_EQ(m.record(S(s), T(t)), model.record(s, t)) << "seed " << seed << " op " << op;
        untrimmed.record(S(s), T(t));
        next_src = s + 1;
        next_tgt = t + 1;
      } else if (dice < 75) {
        // Restart: re-send a suffix; the copies land after everything written so far.
        next_src = std::max<int64_t>(0, next_src - static_cast<int64_t>(rng() % 8));
      } else if (dice < 77) {
        // A target that goes backwards must be refused by both.
        int64_t s = next_src;
        int64_t t = std::max<int64_t>(0, next_tgt - 1 - static_cast<int64_t>(rng() % 3));
        ASSERT_EQ(m.record(S(s), T(t)), model.record(s, t));
        untrimmed.record(S(s), T(t));
      } else if (dice < 78 && !model.pairs.empty()) {
        int64_t bound = model.pairs.begin()->first +
                        static_cast<int64_t>(rng() % static_cast<uint64_t>(next_src + 1));
        m.trim_before(S(bound));
        trimmed_to = std::max(trimmed_to, bound);
      } else if (!model.pairs.empty()) {
        int64_t c = static_cast<int64_t>(rng() % static_cast<uint64_t>(next_src + 20)) - 5;
        Translation t = m.lookup(S(c));
        auto floor = m.floor();
        ASSERT_TRUE(floor.has_value());
        if (c < floor->value) {
          ASSERT_EQ(t.kind, Kind::kUnknown) << "seed " << seed << " c " << c;
          // Unknown only below what trimming (or the first record) allows.
          int64_t first = model.pairs.begin()->first;
          int64_t last_start = m.segment_list().back().src_start;
          ASSERT_TRUE(c < first || c < std::min(trimmed_to, last_start)) << c;
          continue;
        }
        auto [target, after_previous] = model.translate(c);
        ASSERT_TRUE(t.known());
        ASSERT_EQ(t.target.value, target) << "seed " << seed << " c " << c;
        ASSERT_EQ(t.kind, c > model.pairs.rbegin()->first ? Kind::kCaughtUp : Kind::kExact);
        // Without a previous segment in the map (trimmed), after_previous falls back to target.
        if (c > m.segment_list().front().src_start) {
          ASSERT_EQ(t.after_previous.value, after_previous) << "seed " << seed << " c " << c;
        } else {
          ASSERT_EQ(t.after_previous, t.target);
        }
      }
      if (op % 500 == 0) {
        auto back = decode_str(m.encode());
        ASSERT_TRUE(back.has_value());
        ASSERT_EQ(*back, m);
      }
    }
    // Minimal: one segment per run of pairs contiguous in both source and target.
    ASSERT_EQ(untrimmed.segments(), model.runs()) << "seed " << seed;
    ASSERT_FALSE(model.pairs.empty());
    for (int64_t c = model.pairs.begin()->first; c <= model.pairs.rbegin()->first + 2; ++c) {
      Translation t = untrimmed.lookup(S(c));
      auto [target, after_previous] = model.translate(c);
      ASSERT_EQ(t.target.value, target) << "seed " << seed << " c " << c;
      ASSERT_EQ(t.after_previous.value, after_previous) << "seed " << seed << " c " << c;
    }
    ASSERT_FALSE(untrimmed.translate(S(model.pairs.begin()->first - 1)).has_value());
    // Reverse: the first pair whose target is at or after t.
    for (int64_t t = model.pairs.begin()->second; t <= model.pairs.rbegin()->second + 2; ++t) {
      auto it = std::find_if(model.pairs.begin(), model.pairs.end(),
                             [&](const auto& p) { return p.second >= t; });
      int64_t expected = it == model.pairs.end() ? model.pairs.rbegin()->first + 1 : it->first;
      ASSERT_EQ(untrimmed.reverse_translate(T(t)), S(expected)) << "seed " << seed << " t " << t;
    }
    ASSERT_FALSE(untrimmed.reverse_translate(T(model.pairs.begin()->second - 1)).has_value());
    // Segments are canonical: neighbours are never contiguous in both source and target.
    const auto& segs = m.segment_list();
    for (size_t k = 1; k < segs.size(); ++k) {
      ASSERT_GE(segs[k].src_start, segs[k - 1].src_end());
      ASSERT_GE(segs[k].tgt_start, segs[k - 1].tgt_end());
      ASSERT_FALSE(segs[k].src_start == segs[k - 1].src_end() &&
                   segs[k].tgt_start == segs[k - 1].tgt_end());
    }
  }
}

}  // namespace
}  // namespace kmirror::core
