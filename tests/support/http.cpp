#include "support/http.h"

#include <httplib.h>

#include <regex>

#include "kafka/client.h"

using namespace std::chrono_literals;

namespace kmirror::testing {

Http::Http(int port) : client_(std::make_unique<httplib::Client>("127.0.0.1", port)) {
  client_->set_connection_timeout(2, 0);
  client_->set_read_timeout(10, 0);
}

Http::~Http() = default;

std::pair<int, std::string> Http::get(const std::string& path, const std::string& token) {
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto res = client_->Get(path.c_str(), headers);
  if (!res) return {0, ""};
  return {res->status, res->body};
}

nlohmann::json Http::status() {
  auto [code, body] = get("/status");
  if (code != 200) return nlohmann::json();
  return nlohmann::json::parse(body, nullptr, false);
}

std::string Http::metrics() {
  return get("/metrics").second;
}

int logged_port(const KmirrorProcess& km) {
  static const std::regex re(R"(dashboard at http://[^ ]*:([0-9]+)/)");
  std::smatch m;
  std::string out = km.output();
  return std::regex_search(out, m, re) ? std::stoi(m[1]) : 0;
}

int wait_for_port(KmirrorProcess& km) {
  int port = 0;
  kafka::wait_until([&] { return (port = logged_port(km)) != 0 || !km.running(); }, 60s, 100ms);
  return port;
}

}  // namespace kmirror::testing
