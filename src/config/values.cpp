#include "config/values.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <limits>
#include <vector>

namespace kmirror::config {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "<digits><spaces><unit>" into the non-negative number and the unit.
std::optional<std::pair<int64_t, std::string_view>> split_number_unit(std::string_view text) {
  text = trim(text);
  size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits == 0) return std::nullopt;
  auto number = parse_int(text.substr(0, digits));
  if (!number) return std::nullopt;
  return std::pair{*number, trim(text.substr(digits))};
}

std::optional<int64_t> checked_mul(int64_t value, int64_t factor) {
  if (value > std::numeric_limits<int64_t>::max() / factor) return std::nullopt;
  return value * factor;
}

// Parses exactly `width` digits at `pos`.
std::optional<int> fixed_digits(std::string_view s, size_t pos, size_t width) {
  if (pos + width > s.size()) return std::nullopt;
  int value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (!is_digit(s[i])) return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

}  // namespace

std::optional<int64_t> parse_int(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t first_digit = text.front() == '-' ? 1 : 0;
  if (first_digit == text.size()) return std::nullopt;
  for (size_t i = first_digit; i < text.size(); ++i) {
    if (!is_digit(text[i])) return std::nullopt;
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  auto split = split_number_unit(text);
  if (!split) return std::nullopt;
  auto [value, unit] = *split;
  if (unit.empty() || unit == "ms") return value;
  if (unit == "s") return checked_mul(value, 1000);
  if (unit == "m") return checked_mul(value, 60 * 1000);
  return std::nullopt;
}

std::optional<int64_t> parse_size_bytes(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, int64_t>, 7> kUnits = {{
      {"B", 1},
      {"KiB", int64_t{1} << 10},
      {"MiB", int64_t{1} << 20},
      {"GiB", int64_t{1} << 30},
      {"KB", 1000},
      {"MB", 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
  }};
  auto split = split_number_unit(text);
  if (!split) return std::nullopt;
  auto [value, unit] = *split;
  if (unit.empty()) return value;
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return checked_mul(value, factor);
  }
  return std::nullopt;
}

std::optional<int64_t> parse_utc_timestamp_ms(std::string_view s) {
  // Fixed layout: YYYY-MM-DDTHH:MM:SS
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  auto year = fixed_digits(s, 0, 4);
  auto month = fixed_digits(s, 5, 2);
  auto day = fixed_digits(s, 8, 2);
  auto hour = fixed_digits(s, 11, 2);
  auto minute = fixed_digits(s, 14, 2);
  auto second = fixed_digits(s, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (*year < 1970 || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;

  int64_t millis = 0;
  size_t pos = 19;
  if (s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    size_t count = pos - start;
    if (count == 0 || count > 9) return std::nullopt;
    for (size_t i = 0; i < 3; ++i) millis = millis * 10 + (i < count ? s[start + i] - '0' : 0);
  }
  if (pos + 1 != s.size() || s[pos] != 'Z') return std::nullopt;

  using namespace std::chrono;
  year_month_day date{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                      std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok()) return std::nullopt;
  auto since_epoch = sys_days{date}.time_since_epoch() + hours{*hour} + minutes{*minute} +
                     seconds{*second} + milliseconds{millis};
  return duration_cast<milliseconds>(since_epoch).count();
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows: the transposition step looks two rows back.
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace kmirror::config
