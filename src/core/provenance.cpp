// Provenance header v1 codec; the byte layout is specified in docs/provenance.md.
#include "core/provenance.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace kmirror::core {
namespace {

constexpr size_t kMaxVarintBytes = 10;  // ceil(64 / 7)

// The writers fill a fixed buffer: encode() runs for every copied record, and growing a
// std::string byte by byte took most of its time (70 ns for a first hop).
char* put_uvarint(uint64_t v, char* out) {
  while (v >= 0x80) {
    *out++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<char>(v);
  return out;
}

char* put_zigzag(int64_t v, char* out) {
  // Unsigned arithmetic so every int64 maps without overflow: 0,-1,1,-2 -> 0,1,2,3.
  return put_uvarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63), out);
}

char* put_u64le(uint64_t v, char* out) {
  for (int i = 0; i < 8; ++i) *out++ = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// version, n, the hashes, then two partitions and two offsets (each at most a full varint).
constexpr size_t kMaxEncodedBytes = 1 + kMaxVarintBytes + 8 * kMaxVisited + 4 * kMaxVarintBytes;

// Bounds-checked cursor over the input; every read fails instead of running past the end.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  bool done() const { return pos_ == bytes_.size(); }

  std::optional<uint8_t> byte() {
    if (pos_ >= bytes_.size()) return std::nullopt;
    return bytes_[pos_++];
  }

  std::optional<uint64_t> uvarint() {
    uint64_t v = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      auto b = byte();
      if (!b) return std::nullopt;
      // The 10th byte may only carry bit 63; anything more would overflow 64 bits.
      if (i == kMaxVarintBytes - 1 && *b > 1) return std::nullopt;
      v |= static_cast<uint64_t>(*b & 0x7f) << (7 * i);
      if ((*b & 0x80) == 0) return v;
    }
    return std::nullopt;  // continuation bit still set after 10 bytes
  }

  std::optional<int64_t> zigzag() {
    auto u = uvarint();
    if (!u) return std::nullopt;
    return static_cast<int64_t>((*u >> 1) ^ (~(*u & 1) + 1));
  }

  std::optional<uint64_t> u64le() {
    if (bytes_.size() - pos_ < 8) return std::nullopt;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += 8;
    return v;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

std::optional<int32_t> read_partition(Reader& r) {
  auto v = r.zigzag();
  if (!v || *v < 0 || *v > std::numeric_limits<int32_t>::max()) return std::nullopt;
  return static_cast<int32_t>(*v);
}

std::optional<int64_t> read_offset(Reader& r) {
  auto v = r.uvarint();
  if (!v || *v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(*v);
}

}  // namespace

ClusterHash hash_cluster_id(std::string_view cluster_id) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64-bit offset basis
  for (unsigned char c : cluster_id) {
    h ^= c;
    h *= 0x100000001b3ULL;  // FNV-1a 64-bit prime
  }
  return h;
}

bool Provenance::has_visited(ClusterHash cluster) const {
  return std::find(visited.begin(), visited.end(), cluster) != visited.end();
}

void encode(const Provenance& p, std::string& out) {
  if (p.visited.empty() || p.visited.size() > kMaxVisited) {
    throw std::invalid_argument("provenance: visited must hold 1.." + std::to_string(kMaxVisited) +
                                " clusters, got " + std::to_string(p.visited.size()));
  }
  if (p.origin_partition < 0 || p.source_partition < 0 || p.origin_offset < 0 ||
      p.source_offset < 0) {
    throw std::invalid_argument("provenance: partitions and offsets must be >= 0");
  }
  char buf[kMaxEncodedBytes];
  char* w = buf;
  *w++ = static_cast<char>(kProvenanceVersion);
  w = put_uvarint(p.visited.size(), w);
  for (ClusterHash h : p.visited) w = put_u64le(h, w);
  w = put_zigzag(p.origin_partition, w);
  w = put_uvarint(static_cast<uint64_t>(p.origin_offset), w);
  w = put_zigzag(p.source_partition, w);
  w = put_uvarint(static_cast<uint64_t>(p.source_offset), w);
  out.assign(buf, static_cast<size_t>(w - buf));
}

std::string encode(const Provenance& p) {
  std::string out;
  encode(p, out);
  return out;
}

std::optional<Provenance> decode(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  auto version = r.byte();
  if (!version || *version != kProvenanceVersion) return std::nullopt;
  auto n = r.uvarint();
  if (!n || *n == 0 || *n > kMaxVisited) return std::nullopt;

  Provenance p;
  p.visited.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) {
    auto h = r.u64le();
    if (!h) return std::nullopt;
    p.visited.push_back(*h);
  }
  auto origin_partition = read_partition(r);
  if (!origin_partition) return std::nullopt;
  auto origin_offset = read_offset(r);
  if (!origin_offset) return std::nullopt;
  auto source_partition = read_partition(r);
  if (!source_partition) return std::nullopt;
  auto source_offset = read_offset(r);
  if (!source_offset || !r.done()) return std::nullopt;

  p.origin_partition = *origin_partition;
  p.origin_offset = *origin_offset;
  p.source_partition = *source_partition;
  p.source_offset = *source_offset;
  return p;
}

Provenance next_hop(const std::optional<Provenance>& existing, ClusterHash source,
                    ClusterHash target, int32_t partition, int64_t offset) {
  Provenance p;
  next_hop(existing, source, target, partition, offset, p);
  return p;
}

void next_hop(const std::optional<Provenance>& existing, ClusterHash source, ClusterHash target,
              int32_t partition, int64_t offset, Provenance& out) {
  out.visited.clear();
  if (existing && !existing->visited.empty()) {
    out.visited.assign(existing->visited.begin(), existing->visited.end());
    out.origin_partition = existing->origin_partition;
    out.origin_offset = existing->origin_offset;
    // A header written by kmirror ends with the cluster we read it from; repair it otherwise
    // (e.g. a record re-produced by an application that kept the header).
    if (out.visited.back() != source) out.visited.push_back(source);
  } else {
    out.visited.push_back(source);
    out.origin_partition = partition;
    out.origin_offset = offset;
  }
  out.visited.push_back(target);
  out.source_partition = partition;
  out.source_offset = offset;
}

}  // namespace kmirror::core
