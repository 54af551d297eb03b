#include "core/position_metadata.h"

#include <charconv>

namespace kmirror::core {

namespace {
constexpr std::string_view kFloorPrefix = "kmirror.floor=";
}

std::string encode_position_metadata(int64_t target_floor) {
  if (target_floor <= 0) return {};
  return std::string(kFloorPrefix) + std::to_string(target_floor);
}

int64_t decode_position_metadata(std::string_view metadata) {
  if (metadata.substr(0, kFloorPrefix.size()) != kFloorPrefix) return 0;
  auto digits = metadata.substr(kFloorPrefix.size());
  int64_t floor = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), floor);
  if (ec != std::errc{} || end != digits.data() + digits.size() || floor < 0) return 0;
  return floor;
}

}  // namespace kmirror::core
