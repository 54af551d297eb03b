// libFuzzer target: decode arbitrary bytes; whatever decodes must re-encode to an equal value
// (read back, as kmirror does, from the cluster the copy is written to: visited's last entry).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "core/provenance.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmirror::core;
  constexpr ClusterHash kReader = 0x5eed5eed5eed5eedULL;
  auto first = decode(std::span<const uint8_t>(data, size), kReader);
  if (!first) return 0;
  const std::string bytes = encode(*first);  // must not throw: decode only yields valid values
  auto second =
      decode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
             first->visited.back());
  if (!second || !(*second == *first)) {
    std::fprintf(stderr, "provenance re-encode mismatch\n");
    std::abort();
  }
  return 0;
}
