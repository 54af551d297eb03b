// `kmirror offsets translate --config F --flow ID --group G`.
#pragma once

#include <string>

namespace kmirror::cli {

struct OffsetsOptions {
  std::string config_path;
  std::string flow;
  std::string group;
  bool json = false;
};

int offsets_translate_command(const OffsetsOptions& options);

}  // namespace kmirror::cli
