// libFuzzer entry for the configuration loader: any text must either load or raise ConfigError;
// any other exception, crash, hang or leak is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    kmirror::config::load_string(text, "fuzz.yaml");
  } catch (const kmirror::config::ConfigError&) {
  }
  return 0;
}
