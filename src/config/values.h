// Parsers for the scalar value formats of the configuration (durations, sizes, timestamps).
// They return nullopt on any malformed or out-of-range input; the loader turns that into a
// ConfigError that says what was expected.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kmirror::config {

// A whole decimal number, optionally negative; no '+', spaces or other bases.
std::optional<int64_t> parse_int(std::string_view text);

// "<n>ms", "<n>s", "<n>m" or a bare number of milliseconds (whitespace allowed before the
// unit). Returns milliseconds; rejects negative values and overflow, not zero.
std::optional<int64_t> parse_duration_ms(std::string_view text);

// Bare bytes or "<n>" followed by B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of
// 1000), whitespace allowed before the unit. Rejects negative values and overflow.
std::optional<int64_t> parse_size_bytes(std::string_view text);

// "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (UTC, years 1970..9999) as epoch milliseconds; the
// fraction (1 to 9 digits) is truncated to milliseconds.
std::optional<int64_t> parse_utc_timestamp_ms(std::string_view text);

// Optimal string alignment distance (edits, with adjacent transpositions counting as one).
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace kmirror::config
