#include "core/partition_progress.h"

#include <algorithm>
#include <cassert>

namespace kmirror::core {

PartitionProgress::PartitionProgress(std::optional<int64_t> resume_at) : committable_(resume_at) {}

void PartitionProgress::sent(int64_t offset) {
  assert(pending_.empty() || pending_.back().offset < offset);
  pending_.push_back({offset, false});
}

void PartitionProgress::skipped(int64_t offset) {
  if (pending_.empty()) {
    committable_ = offset + 1;
    return;
  }
  pending_.push_back({offset, true});
}

void PartitionProgress::acked(int64_t offset) {
  // Acks arrive in send order almost always (idempotent producer): check the front first.
  if (!pending_.empty() && pending_.front().offset == offset) {
    pending_.front().done = true;
  } else {
    auto it = std::lower_bound(pending_.begin(), pending_.end(), offset,
                               [](const Entry& e, int64_t o) { return e.offset < o; });
    if (it == pending_.end() || it->offset != offset) return;  // unknown: ignore
    it->done = true;
  }
  advance();
}

void PartitionProgress::advance() {
  while (!pending_.empty() && pending_.front().done) {
    committable_ = pending_.front().offset + 1;
    pending_.pop_front();
  }
}

std::optional<int64_t> PartitionProgress::oldest_outstanding() const {
  for (const auto& e : pending_) {
    if (!e.done) return e.offset;
  }
  return std::nullopt;
}

}  // namespace kmirror::core
