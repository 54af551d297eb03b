// A fixed-bucket latency histogram (milliseconds), cheap to update on the hot path and to
// copy into status snapshots; exported as a Prometheus histogram.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace kmirror::core {

class LatencyHistogram {
 public:
  // Upper bounds in ms; the last bucket (+Inf) is implicit.
  static constexpr std::array<int64_t, 15> kBounds = {
      1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000};

  void observe(int64_t ms) {
    if (ms < 0) ms = 0;
    size_t i = 0;
    while (i < kBounds.size() && ms > kBounds[i]) ++i;
    ++counts_[i];
    ++count_;
    sum_ += ms;
    if (ms > max_) max_ = ms;
  }

  // Non-cumulative count of bucket i (i == kBounds.size() is +Inf).
  uint64_t bucket(size_t i) const { return counts_[i]; }
  uint64_t count() const { return count_; }
  int64_t sum() const { return sum_; }
  int64_t max() const { return max_; }

  // Upper bound of the bucket holding quantile q (0..1): an over-estimate within one bucket.
  int64_t quantile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(count_));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return i < kBounds.size() ? kBounds[i] : max_;
    }
    return max_;
  }

  void merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    if (o.max_ > max_) max_ = o.max_;
  }

 private:
  std::array<uint64_t, kBounds.size() + 1> counts_{};
  uint64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t max_ = 0;
};

}  // namespace kmirror::core
