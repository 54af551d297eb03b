#include "core/provenance.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace kmirror::core {
namespace {

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

std::optional<Provenance> decode_vec(const std::vector<uint8_t>& v) {
  return decode(std::span<const uint8_t>(v));
}

Provenance sample() {
  Provenance p;
  p.visited = {0x0102030405060708ULL, 0x1122334455667788ULL};
  p.origin_partition = 3;
  p.origin_offset = 300;
  p.source_partition = 0;
  p.source_offset = 1;
  return p;
}

// Written by hand from docs/provenance.md so the wire format cannot drift unnoticed.
const std::vector<uint8_t> kSampleBytes = {
    0x01,                                            // version
    0x02,                                            // n = 2
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // visited[0], little-endian
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // visited[1]
    0x06,                                            // origin_partition 3 (zigzag 6)
    0xac, 0x02,                                      // origin_offset 300
    0x00,                                            // source_partition 0
    0x01,                                            // source_offset 1
};

TEST(ProvenanceHash, Fnv1aKnownVectors) {
  // Reference values of 64-bit FNV-1a.
  EXPECT_EQ(hash_cluster_id(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(hash_cluster_id("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(hash_cluster_id("foobar"), 0x85944171f73967e8ULL);
  EXPECT_NE(hash_cluster_id("cluster-a"), hash_cluster_id("cluster-b"));
}

TEST(ProvenanceCodec, GoldenBytes) {
  EXPECT_EQ(bytes_of(encode(sample())), kSampleBytes);
  auto p = decode_vec(kSampleBytes);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, sample());
  EXPECT_EQ(p->origin(), 0x0102030405060708ULL);
}

TEST(ProvenanceCodec, EncodeClearsOutput) {
  std::string out = "garbage";
  encode(sample(), out);
  EXPECT_EQ(bytes_of(out), kSampleBytes);
}

TEST(ProvenanceCodec, RoundTrips) {
  std::vector<Provenance> cases;
  Provenance one;
  one.visited = {hash_cluster_id("a")};
  cases.push_back(one);
  cases.push_back(sample());

  Provenance extremes;
  for (size_t i = 0; i < kMaxVisited; ++i) {
    extremes.visited.push_back(i % 2 ? std::numeric_limits<uint64_t>::max() : i);
  }
  extremes.origin_partition = std::numeric_limits<int32_t>::max();
  extremes.origin_offset = std::numeric_limits<int64_t>::max();
  extremes.source_partition = 64;  // zigzag 128: first two-byte value
  extremes.source_offset = 127;    // last one-byte value
  cases.push_back(extremes);

  for (const auto& p : cases) {
    auto encoded = encode(p);
    auto decoded = decode_vec(bytes_of(encoded));
    ASSERT_TRUE(decoded.has_value()) << "visited=" << p.visited.size();
    EXPECT_EQ(*decoded, p);
  }
}

TEST(ProvenanceCodec, HeaderStaysSmall) {
  Provenance p = sample();
  p.origin_offset = 1'000'000'000;
  p.source_offset = 1'000'000'000;
  EXPECT_LE(encode(p).size(), 1u + 1u + 16u + 1u + 5u + 1u + 5u);
}

TEST(ProvenanceCodec, EncodeRejectsWhatDecodeWouldReject) {
  Provenance empty;
  EXPECT_THROW(encode(empty), std::invalid_argument);
  Provenance too_many;
  too_many.visited.assign(kMaxVisited + 1, 7);
  EXPECT_THROW(encode(too_many), std::invalid_argument);
  Provenance negative = sample();
  negative.source_partition = -1;
  EXPECT_THROW(encode(negative), std::invalid_argument);
  negative = sample();
  negative.origin_offset = -1;
  EXPECT_THROW(encode(negative), std::invalid_argument);
}

TEST(ProvenanceDecode, TruncatedAtEveryLength) {
  for (size_t len = 0; len < kSampleBytes.size(); ++len) {
    std::vector<uint8_t> prefix(kSampleBytes.begin(), kSampleBytes.begin() + len);
    EXPECT_FALSE(decode_vec(prefix).has_value()) << "length " << len;
  }
}

TEST(ProvenanceDecode, TrailingByte) {
  auto v = kSampleBytes;
  v.push_back(0x00);
  EXPECT_FALSE(decode_vec(v).has_value());
}

TEST(ProvenanceDecode, BadVersion) {
  for (uint8_t version : {0x00, 0x02, 0xff}) {
    auto v = kSampleBytes;
    v[0] = version;
    EXPECT_FALSE(decode_vec(v).has_value()) << int(version);
  }
}

TEST(ProvenanceDecode, VisitedCountOutOfRange) {
  // n = 0 followed by the four trailing fields.
  EXPECT_FALSE(decode_vec({0x01, 0x00, 0x00, 0x00, 0x00, 0x00}).has_value());

  // n = 17 with 17 hashes present: the count alone must reject it.
  std::vector<uint8_t> v = {0x01, 17};
  v.insert(v.end(), 17 * 8, 0xab);
  v.insert(v.end(), {0x00, 0x00, 0x00, 0x00});
  EXPECT_FALSE(decode_vec(v).has_value());

  // n = 16 with the same layout is fine.
  v[1] = 16;
  v.erase(v.begin() + 2, v.begin() + 10);
  auto p = decode_vec(v);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->visited.size(), 16u);

  // A huge n must not allocate or read past the end.
  EXPECT_FALSE(decode_vec({0x01, 0xff, 0xff, 0xff, 0xff, 0x0f}).has_value());
}

TEST(ProvenanceDecode, OverlongVarint) {
  // origin_offset as 11 bytes: ten continuation bytes then a terminator.
  std::vector<uint8_t> v(kSampleBytes.begin(), kSampleBytes.begin() + 19);
  v.insert(v.end(), 10, 0x80);
  v.insert(v.end(), {0x00, 0x00, 0x01});
  EXPECT_FALSE(decode_vec(v).has_value());

  // 10 bytes whose last one carries more than bit 63: overflows uint64.
  v.assign(kSampleBytes.begin(), kSampleBytes.begin() + 19);
  v.insert(v.end(), 9, 0xff);
  v.insert(v.end(), {0x02, 0x00, 0x01});
  EXPECT_FALSE(decode_vec(v).has_value());

  // A non-minimal but 10-byte-bounded varint is accepted (0 written as 80 00).
  v.assign(kSampleBytes.begin(), kSampleBytes.begin() + 19);
  v.insert(v.end(), {0x80, 0x00, 0x00, 0x01});
  auto p = decode_vec(v);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->origin_offset, 0);
}

TEST(ProvenanceDecode, OffsetAboveInt64Max) {
  // 2^63 = ten bytes: nine 0x80 then 0x01.
  std::vector<uint8_t> v(kSampleBytes.begin(), kSampleBytes.begin() + 19);
  v.insert(v.end(), 9, 0x80);
  v.insert(v.end(), {0x01, 0x00, 0x01});
  EXPECT_FALSE(decode_vec(v).has_value());
}

TEST(ProvenanceDecode, NegativePartition) {
  auto v = kSampleBytes;
  v[18] = 0x01;  // zigzag 1 = -1
  EXPECT_FALSE(decode_vec(v).has_value());
  v = kSampleBytes;
  v[21] = 0x03;  // source_partition zigzag 3 = -2
  EXPECT_FALSE(decode_vec(v).has_value());
}

TEST(ProvenanceDecode, PartitionAboveInt32Max) {
  // zigzag(2^31) = 2^32 = 80 80 80 80 10.
  std::vector<uint8_t> v(kSampleBytes.begin(), kSampleBytes.begin() + 18);
  v.insert(v.end(), {0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x00, 0x00});
  EXPECT_FALSE(decode_vec(v).has_value());
  // zigzag(2^31 - 1) = 2^32 - 2 = fe ff ff ff 0f is the largest accepted.
  v.assign(kSampleBytes.begin(), kSampleBytes.begin() + 18);
  v.insert(v.end(), {0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00, 0x00});
  auto p = decode_vec(v);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->origin_partition, std::numeric_limits<int32_t>::max());
}

TEST(ProvenanceNextHop, FirstHop) {
  auto p = next_hop(std::nullopt, 10, 20, 4, 99);
  EXPECT_EQ(p.visited, (std::vector<ClusterHash>{10, 20}));
  EXPECT_EQ(p.origin(), 10u);
  EXPECT_EQ(p.origin_partition, 4);
  EXPECT_EQ(p.origin_offset, 99);
  EXPECT_EQ(p.source_partition, 4);
  EXPECT_EQ(p.source_offset, 99);
}

TEST(ProvenanceNextHop, ChainKeepsOriginAndUpdatesSource) {
  auto ab = next_hop(std::nullopt, 1, 2, 0, 5);
  auto bc = next_hop(ab, 2, 3, 7, 50);
  EXPECT_EQ(bc.visited, (std::vector<ClusterHash>{1, 2, 3}));
  EXPECT_EQ(bc.origin_partition, 0);
  EXPECT_EQ(bc.origin_offset, 5);
  EXPECT_EQ(bc.source_partition, 7);
  EXPECT_EQ(bc.source_offset, 50);

  // Through the wire at each hop, as the replicator does.
  auto cd = next_hop(decode_vec(bytes_of(encode(bc))), 3, 4, 1, 2);
  EXPECT_EQ(cd.visited, (std::vector<ClusterHash>{1, 2, 3, 4}));
  EXPECT_EQ(cd.origin_offset, 5);
  EXPECT_EQ(cd.source_partition, 1);
  EXPECT_EQ(cd.source_offset, 2);
}

TEST(ProvenanceNextHop, AppendsSourceWhenMissing) {
  Provenance odd;
  odd.visited = {1, 2};
  odd.origin_offset = 8;
  auto p = next_hop(odd, 3, 4, 0, 0);  // read from 3, but the header ends with 2
  EXPECT_EQ(p.visited, (std::vector<ClusterHash>{1, 2, 3, 4}));
  EXPECT_EQ(p.origin_offset, 8);
}

// The copy path reuses one Provenance for every record: nothing of the previous record's
// chain may remain in the next one.
TEST(ProvenanceNextHop, ReusedOutputHoldsOnlyTheNewHop) {
  Provenance reused;
  Provenance long_chain;
  long_chain.visited = {1, 2, 3, 4, 5};
  long_chain.origin_partition = 9;
  long_chain.origin_offset = 77;
  next_hop(long_chain, 5, 6, 2, 30, reused);
  EXPECT_EQ(reused.visited, (std::vector<ClusterHash>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(reused.origin_offset, 77);

  next_hop(std::nullopt, 10, 20, 4, 99, reused);
  EXPECT_EQ(reused, next_hop(std::nullopt, 10, 20, 4, 99));
  EXPECT_EQ(reused.visited, (std::vector<ClusterHash>{10, 20}));
  EXPECT_EQ(reused.origin_partition, 4);
  EXPECT_EQ(reused.origin_offset, 99);
}

TEST(ProvenanceLoopRule, NoHeaderNeverSkips) {
  EXPECT_FALSE(must_skip(std::nullopt, 1));
}

TEST(ProvenanceLoopRule, ThreeClusterMesh) {
  const ClusterHash a = hash_cluster_id("cluster-a");
  const ClusterHash b = hash_cluster_id("cluster-b");
  const ClusterHash c = hash_cluster_id("cluster-c");

  // A record produced on A, copied to B.
  std::optional<Provenance> on_a;
  ASSERT_FALSE(must_skip(on_a, b));
  auto on_b = decode_vec(bytes_of(encode(next_hop(on_a, a, b, 0, 10))));
  ASSERT_TRUE(on_b.has_value());

  // From B: never back to A or B, onwards to C.
  EXPECT_TRUE(must_skip(on_b, a));
  EXPECT_TRUE(must_skip(on_b, b));
  ASSERT_FALSE(must_skip(on_b, c));
  auto on_c = decode_vec(bytes_of(encode(next_hop(on_b, b, c, 0, 20))));
  ASSERT_TRUE(on_c.has_value());

  // From C every flow of the full mesh is blocked: the record settles after 3 copies.
  EXPECT_TRUE(must_skip(on_c, a));
  EXPECT_TRUE(must_skip(on_c, b));
  EXPECT_TRUE(must_skip(on_c, c));
  EXPECT_EQ(on_c->origin(), a);
  EXPECT_EQ(on_c->visited, (std::vector<ClusterHash>{a, b, c}));
}

TEST(ProvenanceLoopRule, FullMeshFloodTerminates) {
  // Run every directed flow of a full mesh until quiescent. The loop rule guarantees
  // termination, not one copy per cluster: a record reaches a cluster once per simple path from
  // its origin (3 clusters: A, A>B, A>C, A>B>C, A>C>B = 5 copies). Dedup on the origin key, or
  // flows that forward only local records, must remove the rest.
  for (size_t n : {2u, 3u, 4u}) {
    std::vector<ClusterHash> clusters;
    for (size_t i = 0; i < n; ++i) clusters.push_back(hash_cluster_id("c" + std::to_string(i)));
    struct Copy {
      ClusterHash at;
      std::optional<Provenance> header;
    };
    std::vector<Copy> pending = {{clusters[0], std::nullopt}};
    size_t written = 1;
    while (!pending.empty()) {
      Copy copy = pending.back();
      pending.pop_back();
      for (ClusterHash target : clusters) {
        if (target == copy.at || must_skip(copy.header, target)) continue;
        auto next = next_hop(copy.header, copy.at, target, 0, 0);
        EXPECT_EQ(next.visited.size(),
                  std::set<ClusterHash>(next.visited.begin(), next.visited.end()).size());
        pending.push_back({target, decode_vec(bytes_of(encode(next)))});
        ASSERT_LT(++written, 1000u) << "replication loop";
      }
    }
    const size_t simple_paths[] = {0, 1, 2, 5, 16};
    EXPECT_EQ(written, simple_paths[n]) << n << " clusters";
  }
}

}  // namespace
}  // namespace kmirror::core
