#include "core/position_metadata.h"

#include <gtest/gtest.h>

namespace kmirror::core {

TEST(PositionMetadataTest, FloorRoundTripsAndForeignMetadataMeansNoFloor) {
  EXPECT_EQ(encode_position_metadata(0), "");
  EXPECT_EQ(encode_position_metadata(-5), "");
  EXPECT_EQ(decode_position_metadata(encode_position_metadata(123456789012)), 123456789012);
  EXPECT_EQ(decode_position_metadata(""), 0);
  EXPECT_EQ(decode_position_metadata("kmirror.floor="), 0);
  EXPECT_EQ(decode_position_metadata("kmirror.floor=12x"), 0);
  EXPECT_EQ(decode_position_metadata("kmirror.floor=-3"), 0);
  EXPECT_EQ(decode_position_metadata("someone else's note"), 0);
}

}  // namespace kmirror::core
