#include "kmirror/dedup.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/provenance.h"

namespace kmirror {
namespace {

using Verdict = Deduplicator::Verdict;

constexpr core::ClusterHash kA = 0xaaaa;
constexpr core::ClusterHash kB = 0xbbbb;
constexpr core::ClusterHash kC = 0xcccc;

// The header kmirror writes on a copy of record (partition, offset) first produced on `origin`.
std::string header(core::ClusterHash origin, int32_t partition, int64_t offset,
                   core::ClusterHash target = kC) {
  return core::encode(core::next_hop(std::nullopt, origin, target, partition, offset));
}

Verdict check(Deduplicator& d, const std::string& topic, const std::string& prov) {
  return d.check(topic, prov.data(), prov.size());
}

TEST(Dedup, RestartDuplicatesDropped) {
  Deduplicator d;
  for (int64_t o = 0; o < 10; ++o) EXPECT_EQ(check(d, "orders", header(kA, 0, o)), Verdict::kNew);
  // The replicator restarts from a stored position and re-sends 6..9, then continues.
  for (int64_t o = 6; o < 10; ++o) {
    EXPECT_EQ(check(d, "orders", header(kA, 0, o)), Verdict::kDuplicate) << o;
  }
  EXPECT_EQ(check(d, "orders", header(kA, 0, 10)), Verdict::kNew);
  EXPECT_EQ(d.duplicates(), 4u);
  EXPECT_EQ(d.keys(), 1u);
}

TEST(Dedup, OriginGapsAreNotDuplicates) {
  // Compaction or filtering leaves gaps in origin offsets: a higher offset is always new.
  Deduplicator d;
  EXPECT_EQ(check(d, "t", header(kA, 0, 5)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kA, 0, 50)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kA, 0, 50)), Verdict::kDuplicate);
}

TEST(Dedup, InterleavedOriginsTrackedSeparately) {
  // Active-active: one partition holds copies from origins A and B, interleaved; their offsets
  // overlap but are unrelated.
  Deduplicator d;
  EXPECT_EQ(check(d, "t", header(kA, 0, 100)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kB, 0, 3)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kA, 0, 101)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kB, 0, 4)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kB, 0, 4)), Verdict::kDuplicate);
  EXPECT_EQ(check(d, "t", header(kA, 0, 101)), Verdict::kDuplicate);
  EXPECT_EQ(check(d, "t", header(kA, 0, 102)), Verdict::kNew);
  EXPECT_EQ(d.keys(), 2u);
}

TEST(Dedup, PartitionsAndTopicsAreSeparateKeys) {
  Deduplicator d;
  EXPECT_EQ(check(d, "t", header(kA, 0, 7)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kA, 1, 7)), Verdict::kNew);
  EXPECT_EQ(check(d, "u", header(kA, 0, 7)), Verdict::kNew);
  EXPECT_EQ(check(d, "t", header(kA, 1, 7)), Verdict::kDuplicate);
  EXPECT_EQ(d.keys(), 3u);
}

TEST(Dedup, MeshCopiesByTwoPathsDropped) {
  // In a mesh a record reaches C directly (A->C) and through B (A->B->C); the origin fields
  // are the same whatever the path, so the second copy is a duplicate.
  Deduplicator d;
  std::string direct = header(kA, 2, 40, kC);
  auto via_b = core::next_hop(core::next_hop(std::nullopt, kA, kB, 2, 40), kB, kC, 2, 977);
  std::string second = core::encode(via_b);
  EXPECT_EQ(check(d, "t", direct), Verdict::kNew);
  EXPECT_EQ(check(d, "t", second), Verdict::kDuplicate);
}

TEST(Dedup, RecordsWithoutHeaderPass) {
  Deduplicator d;
  EXPECT_EQ(d.check("t", nullptr, 0), Verdict::kNoProvenance);
  EXPECT_EQ(d.check("t", "", 0), Verdict::kNoProvenance);
  EXPECT_EQ(d.check("t", nullptr, 0), Verdict::kNoProvenance);  // repeats too
  EXPECT_EQ(d.duplicates(), 0u);
  EXPECT_EQ(d.keys(), 0u);
}

TEST(Dedup, MalformedHeaderIsNoProvenance) {
  Deduplicator d;
  std::string good = header(kA, 0, 1);
  EXPECT_EQ(check(d, "t", good.substr(0, good.size() - 1)), Verdict::kNoProvenance);
  EXPECT_EQ(check(d, "t", "\x02garbage"), Verdict::kNoProvenance);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string junk(rng() % 40, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    Verdict v = check(d, "t", junk);
    EXPECT_TRUE(v == Verdict::kNoProvenance || v == Verdict::kNew || v == Verdict::kDuplicate);
  }
}

TEST(Dedup, ClusterHashMatchesHeaders) {
  EXPECT_EQ(cluster_hash("MkU3OEVBNTcwNTJENDM2Qg"),
            core::hash_cluster_id("MkU3OEVBNTcwNTJENDM2Qg"));
  EXPECT_EQ(cluster_hash("a"), 0xaf63dc4c8601ec8cULL);
}

TEST(Dedup, LocalOriginalsTrackedAcrossAMove) {
  // A consumer reads partition 0 on A: A-local originals (no header) and copies from B.
  Deduplicator d;
  for (int64_t o = 0; o < 10; ++o) {
    EXPECT_EQ(d.check("t", nullptr, 0, kA, 0, o), Verdict::kNew);
  }
  EXPECT_EQ(check(d, "t", header(kB, 0, 0, kA)), Verdict::kNew);
  EXPECT_EQ(d.keys(), 2u);
  // It moves to B (failover) at a conservative position: copies of A's records 5..9 come again,
  // and B's original 0 (no header on B) too; all are dropped, what follows is new.
  auto prov = [&](int64_t o) { return header(kA, 0, o, kB); };
  for (int64_t o = 5; o < 10; ++o) {
    std::string h = prov(o);
    EXPECT_EQ(d.check("t", h.data(), h.size(), kB, 0, 100 + o), Verdict::kDuplicate) << o;
  }
  EXPECT_EQ(d.check("t", nullptr, 0, kB, 0, 0), Verdict::kDuplicate);
  EXPECT_EQ(d.check("t", nullptr, 0, kB, 0, 1), Verdict::kNew);
  std::string h = prov(10);
  EXPECT_EQ(d.check("t", h.data(), h.size(), kB, 0, 110), Verdict::kNew);
  EXPECT_EQ(d.duplicates(), 6u);
  // Not a record position: not judged.
  EXPECT_EQ(d.check("t", nullptr, 0, kB, -1, 5), Verdict::kNoProvenance);
  EXPECT_EQ(d.check("t", nullptr, 0, kB, 0, -1), Verdict::kNoProvenance);
  EXPECT_EQ(Deduplicator::restore(d.save()).save(), d.save());
}

TEST(Dedup, SaveRestoreContinuesDecisions) {
  Deduplicator d;
  for (int64_t o = 0; o < 5; ++o) check(d, "orders", header(kA, 0, o));
  check(d, "orders", header(kB, 3, 1000));
  check(d, "payments", header(kA, 1, 9));
  check(d, "orders", header(kA, 0, 4));  // one duplicate
  ASSERT_EQ(d.duplicates(), 1u);

  Deduplicator r = Deduplicator::restore(d.save());
  EXPECT_EQ(r.keys(), d.keys());
  EXPECT_EQ(r.duplicates(), 1u);
  EXPECT_EQ(r.save(), d.save());
  // Both instances decide the same from here on.
  for (auto* x : {&d, &r}) {
    EXPECT_EQ(check(*x, "orders", header(kA, 0, 3)), Verdict::kDuplicate);
    EXPECT_EQ(check(*x, "orders", header(kA, 0, 5)), Verdict::kNew);
    EXPECT_EQ(check(*x, "orders", header(kB, 3, 1000)), Verdict::kDuplicate);
    EXPECT_EQ(check(*x, "payments", header(kA, 1, 10)), Verdict::kNew);
  }
  EXPECT_EQ(Deduplicator::restore(Deduplicator().save()).keys(), 0u);
}

TEST(Dedup, RestoreRejectsMalformed) {
  Deduplicator d;
  check(d, "orders", header(kA, 0, 300));
  check(d, "payments", header(kB, 7, 1));
  std::string good = d.save();

  EXPECT_THROW(Deduplicator::restore(""), std::invalid_argument);
  EXPECT_THROW(Deduplicator::restore("nope"), std::invalid_argument);
  std::string wrong_version = good;
  wrong_version[4] = 9;
  EXPECT_THROW(Deduplicator::restore(wrong_version), std::invalid_argument);
  EXPECT_THROW(Deduplicator::restore(good + "x"), std::invalid_argument);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(Deduplicator::restore(good.substr(0, n)), std::invalid_argument) << n;
  }
  // A huge entry count must fail before allocating.
  std::string huge("kmdd\x01\x00\x01\x01t\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 18);
  EXPECT_THROW(Deduplicator::restore(huge), std::invalid_argument);
  // Random corruption either throws std::invalid_argument or yields a usable state.
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; ++i) {
    std::string bytes = good;
    bytes[rng() % bytes.size()] = static_cast<char>(rng());
    try {
      Deduplicator r = Deduplicator::restore(bytes);
      EXPECT_EQ(Deduplicator::restore(r.save()).save(), r.save());
    } catch (const std::invalid_argument&) {
    }
  }
}

}  // namespace
}  // namespace kmirror
