// Which source offset of one partition may be stored as the replicated position: only one
// such that every earlier record handed to the producer has been acknowledged by the target
// (or deliberately skipped). This is what makes at-least-once "nothing lost" after kill -9.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

namespace kmirror::core {

class PartitionProgress {
 public:
  // `resume_at`: the stored position the partition resumes from, if known.
  explicit PartitionProgress(std::optional<int64_t> resume_at = std::nullopt);

  // A record at `offset` was handed to the producer. Offsets must increase.
  void sent(int64_t offset);
  // A record at `offset` needs no copy (loop rule): done at once, in order with the rest.
  void skipped(int64_t offset);
  // The target acknowledged the record at `offset`.
  void acked(int64_t offset);

  // The next source offset to resume from such that nothing before it is outstanding;
  // nullopt before the first record when no position was known.
  std::optional<int64_t> committable() const { return committable_; }
  size_t outstanding() const { return pending_.size(); }
  // The oldest offset still waiting for the target (a stuck or failed record), if any.
  std::optional<int64_t> oldest_outstanding() const;

 private:
  struct Entry {
    int64_t offset;
    bool done;
  };
  void advance();

  std::deque<Entry> pending_;  // offsets in send order, not yet contiguous-done
  std::optional<int64_t> committable_;
};

}  // namespace kmirror::core
