// Deduplicator: the per-partition high-water rule of docs/dedup.md and its snapshot format.
#include "kmirror/dedup.h"

#include <limits>
#include <optional>
#include <span>
#include <stdexcept>

#include "core/provenance.h"

namespace kmirror {
namespace {

static_assert(kProvenanceHeaderName == core::kProvenanceHeader);

// Snapshot: magic, version, then uvarints/u64le as in the provenance header.
constexpr std::string_view kMagic = "kmdd";
constexpr uint8_t kVersion = 1;
constexpr size_t kMaxVarintBytes = 10;
constexpr size_t kMinEntryBytes = 8 + 1 + 1;  // origin hash, partition, offset

void put_uvarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_u64le(uint64_t v, std::string& out) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

[[noreturn]] void malformed(const std::string& why) {
  throw std::invalid_argument("kmirror dedup snapshot is malformed: " + why);
}

// Bounds-checked cursor; every failed read throws std::invalid_argument.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }

  std::string_view take(size_t n, const char* what) {
    if (n > remaining()) malformed(std::string("truncated ") + what);
    std::string_view out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  uint64_t uvarint(const char* what) {
    uint64_t v = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      auto b = static_cast<uint8_t>(take(1, what)[0]);
      if (i == kMaxVarintBytes - 1 && b > 1) break;  // would overflow 64 bits
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return v;
    }
    malformed(std::string("bad varint in ") + what);
  }

  uint64_t u64le(const char* what) {
    std::string_view b = take(8, what);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
    return v;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

namespace {

std::optional<core::Provenance> decode_header(const void* value, size_t size) {
  if (value == nullptr || size == 0) return std::nullopt;
  return core::decode(std::span<const uint8_t>(static_cast<const uint8_t*>(value), size));
}

}  // namespace

uint64_t cluster_hash(std::string_view cluster_id) {
  return core::hash_cluster_id(cluster_id);
}

Deduplicator::Verdict Deduplicator::check(std::string_view topic, const void* prov_header_value,
                                          size_t size) {
  auto prov = decode_header(prov_header_value, size);
  if (!prov) return Verdict::kNoProvenance;
  return mark(topic, prov->origin(), prov->origin_partition, prov->origin_offset);
}

Deduplicator::Verdict Deduplicator::check(std::string_view topic, const void* prov_header_value,
                                          size_t size, uint64_t local_cluster, int32_t partition,
                                          int64_t offset) {
  auto prov = decode_header(prov_header_value, size);
  if (prov) return mark(topic, prov->origin(), prov->origin_partition, prov->origin_offset);
  if (partition < 0 || offset < 0) return Verdict::kNoProvenance;
  // No header: the record is an original here, named as kmirror names it on its first hop.
  return mark(topic, local_cluster, partition, offset);
}

Deduplicator::Verdict Deduplicator::mark(std::string_view topic, uint64_t origin, int32_t partition,
                                         int64_t offset) {
  auto topic_it = seen_.find(topic);
  if (topic_it == seen_.end()) topic_it = seen_.try_emplace(std::string(topic)).first;
  auto [it, inserted] = topic_it->second.try_emplace(OriginPartition{origin, partition}, offset);
  if (inserted) return Verdict::kNew;
  // Copies keep per-partition order, so anything at or below the high-water mark was seen.
  if (offset <= it->second) {
    ++duplicates_;
    return Verdict::kDuplicate;
  }
  it->second = offset;
  return Verdict::kNew;
}

size_t Deduplicator::keys() const {
  size_t n = 0;
  for (const auto& [topic, partitions] : seen_) n += partitions.size();
  return n;
}

std::string Deduplicator::save() const {
  std::string out(kMagic);
  out.push_back(static_cast<char>(kVersion));
  put_uvarint(duplicates_, out);
  put_uvarint(seen_.size(), out);
  for (const auto& [topic, partitions] : seen_) {
    put_uvarint(topic.size(), out);
    out.append(topic);
    put_uvarint(partitions.size(), out);
    for (const auto& [key, offset] : partitions) {
      put_u64le(key.first, out);
      put_uvarint(static_cast<uint64_t>(key.second), out);
      put_uvarint(static_cast<uint64_t>(offset), out);
    }
  }
  return out;
}

Deduplicator Deduplicator::restore(std::string_view snapshot) {
  Reader r(snapshot);
  if (r.take(kMagic.size(), "magic") != kMagic) malformed("not a kmirror dedup snapshot");
  auto version = static_cast<uint8_t>(r.take(1, "version")[0]);
  if (version != kVersion) malformed("unknown version " + std::to_string(version));

  Deduplicator d;
  d.duplicates_ = r.uvarint("duplicates");
  uint64_t topics = r.uvarint("topic count");
  for (uint64_t t = 0; t < topics; ++t) {
    uint64_t len = r.uvarint("topic name length");
    if (len > r.remaining()) malformed("truncated topic name");
    auto [topic_it, inserted] = d.seen_.try_emplace(std::string(r.take(len, "topic name")));
    if (!inserted) malformed("topic '" + topic_it->first + "' appears twice");
    uint64_t entries = r.uvarint("entry count");
    // Checked before any allocation so a hostile count cannot exhaust memory.
    if (entries > r.remaining() / kMinEntryBytes) malformed("entry count beyond the data");
    for (uint64_t e = 0; e < entries; ++e) {
      uint64_t origin = r.u64le("origin cluster");
      uint64_t partition = r.uvarint("partition");
      uint64_t offset = r.uvarint("offset");
      if (partition > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()) ||
          offset > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        malformed("partition or offset out of range");
      }
      bool added = topic_it->second
                       .try_emplace(OriginPartition{origin, static_cast<int32_t>(partition)},
                                    static_cast<int64_t>(offset))
                       .second;
      if (!added) malformed("a partition appears twice");
    }
  }
  if (r.remaining() != 0) malformed("trailing bytes");
  return d;
}

}  // namespace kmirror
