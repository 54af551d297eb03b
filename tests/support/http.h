// A small HTTP client for kmirror's endpoints (/status, /metrics, /readyz...) in integration
// tests, and where to find them: the port a running kmirror logged.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "support/kmirror_process.h"

namespace httplib {
class Client;
}

namespace kmirror::testing {

class Http {
 public:
  explicit Http(int port);  // 127.0.0.1:<port>
  ~Http();
  // Status code and body; code 0 when nothing answered.
  std::pair<int, std::string> get(const std::string& path, const std::string& token = {});
  nlohmann::json status();  // /status parsed, null when it did not answer 200
  std::string metrics();    // /metrics body, empty when it did not answer

 private:
  std::unique_ptr<httplib::Client> client_;
};

// The port kmirror logged ("http: dashboard at http://127.0.0.1:<port>/"), 0 until it has.
int logged_port(const KmirrorProcess& km);
// Waits (up to 60 s) until kmirror logged its port or exited; 0 when it never did.
int wait_for_port(KmirrorProcess& km);

}  // namespace kmirror::testing
