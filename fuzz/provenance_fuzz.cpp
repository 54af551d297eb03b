// libFuzzer target: decode arbitrary bytes; whatever decodes must re-encode to an equal value.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "core/provenance.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmirror::core;
  auto first = decode(std::span<const uint8_t>(data, size));
  if (!first) return 0;
  const std::string bytes = encode(*first);  // must not throw: decode only yields valid values
  auto second = decode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  if (!second || !(*second == *first)) {
    std::fprintf(stderr, "provenance re-encode mismatch\n");
    std::abort();
  }
  return 0;
}
