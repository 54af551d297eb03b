// The metadata string kmirror stores with a position (the committed offset of its flow group on
// the target). It names the target offset where the copies of the source topic's current
// incarnation begin: a source topic deleted and recreated restarts its offsets at 0, and the
// copies of the old incarnation, still on the target, must not count as copies of the new one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kmirror::core {

// "" for floor 0 (no earlier incarnation), else "kmirror.floor=<offset>".
std::string encode_position_metadata(int64_t target_floor);
// The floor in `metadata`; 0 when absent or written by something else.
int64_t decode_position_metadata(std::string_view metadata);

}  // namespace kmirror::core
