// Log set-up: human-readable lines by default, JSON lines with --log-format json.
#pragma once

#include <string>

namespace kmirror::cli {

void setup_logging(const std::string& format, const std::string& level);

}  // namespace kmirror::cli
