// OffsetMaps::record_all (the copy thread's batched recording) against one-by-one record():
// runs of one partition share a lookup, so interleaved partitions and topics must still land
// in their own maps. No broker: the maps' producer is only created, never used here.
#include "replicate/offset_maps.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kmirror::replicate {
namespace {

OffsetMaps make_maps() {
  return OffsetMaps({{"bootstrap.servers", "127.0.0.1:1"}}, "f", 1, 2);
}

TEST(OffsetMapsTest, RecordAllMatchesRecordingOneByOne) {
  const std::string orders = "orders";
  const std::string orders_eu = "orders-eu";  // another topic, same partition numbers
  std::vector<OffsetMaps::Copy> copies = {
      {&orders, 0, 10, 100},  {&orders, 0, 11, 101}, {&orders, 1, 10, 500},
      {&orders_eu, 0, 7, 70}, {&orders, 0, 13, 102}, {&orders, 1, 11, 501},
      {&orders_eu, 0, 8, 71}, {&orders_eu, 1, 0, 0}, {&orders, 0, 14, 103},
  };
  OffsetMaps batched = make_maps();
  OffsetMaps single = make_maps();
  batched.record_all(copies);
  for (const auto& c : copies)
    single.record(*c.topic, c.partition, c.source_offset, c.target_offset);

  for (const auto* topic : {&orders, &orders_eu}) {
    for (int32_t p : {0, 1}) {
      EXPECT_EQ(batched.last_recorded(*topic, p), single.last_recorded(*topic, p))
          << *topic << "[" << p << "]";
      EXPECT_EQ(batched.first_recorded(*topic, p), single.first_recorded(*topic, p))
          << *topic << "[" << p << "]";
      for (int64_t o = 0; o < 16; ++o) {
        EXPECT_EQ(batched.recorded(*topic, p, o), single.recorded(*topic, p, o))
            << *topic << "[" << p << "]@" << o;
      }
    }
  }
  // What each map holds, spelled out: 12 was never copied (a gap), the rest were.
  EXPECT_EQ(batched.last_recorded(orders, 0), std::make_pair(int64_t{14}, int64_t{103}));
  EXPECT_EQ(batched.last_recorded(orders, 1), std::make_pair(int64_t{11}, int64_t{501}));
  EXPECT_EQ(batched.last_recorded(orders_eu, 0), std::make_pair(int64_t{8}, int64_t{71}));
  EXPECT_EQ(batched.first_recorded(orders_eu, 1), int64_t{0});
  EXPECT_TRUE(batched.recorded(orders, 0, 13));
  EXPECT_FALSE(batched.recorded(orders, 0, 12));
  EXPECT_EQ(batched.reverse_lookup(orders, 0, 102), int64_t{13});
}

TEST(OffsetMapsTest, RecordAllOfNothingRecordsNothing) {
  OffsetMaps maps = make_maps();
  maps.record_all({});
  const std::string t = "t";
  EXPECT_FALSE(maps.last_recorded(t, 0).has_value());
}

}  // namespace
}  // namespace kmirror::replicate
