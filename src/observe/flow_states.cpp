#include "observe/flow_states.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "sync/flow_state.h"

namespace kmirror::observe {

int print_stored_flow_states(const StatusOptions& options, bool& http_enabled) {
  using nlohmann::json;
  config::Config cfg;
  try {
    cfg = config::load_file(options.config_path);
  } catch (const std::exception& e) {
    std::cerr << "kmirror status: " << e.what() << std::endl;
    return 2;
  }
  http_enabled = cfg.http.enabled;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  json flows = json::array();
  std::string table = fmt::format("  {:<24}  {:<24}  {:<13}  {:<9}  {}\n", "FLOW",
                                  "SOURCE -> TARGET", "STATE", "MODE", "SINCE");
  int rc = 0;
  for (const auto& f : cfg.flows) {
    const auto& target = cfg.cluster(f.target);
    json j = {{"id", f.id}, {"source", f.source}, {"target", f.target}};
    std::string since = "-";
    try {
      sync::FlowStateStore store(target.client_properties());
      auto st = store.read(f.id, std::chrono::seconds(15)).value_or(sync::FlowState{});
      j["state"] = st.state;
      j["mode"] = st.mode;
      j["since_ms"] = st.since_ms;
      if (st.since_ms > 0) since = fmt::format("{}s ago", (now - st.since_ms) / 1000);
    } catch (const std::exception& e) {
      j["state"] = "unknown";
      j["mode"] = "";
      j["error"] = e.what();
      since = "target " + target.name + " (" + target.bootstrap_servers +
              ") does not answer: " + e.what();
      rc = 3;
    }
    table += fmt::format("  {:<24}  {:<24}  {:<13}  {:<9}  {}\n", f.id,
                         f.source + " -> " + f.target, j["state"].get<std::string>(),
                         j["mode"].get<std::string>().empty() ? "-" : j["mode"].get<std::string>(),
                         since);
    flows.push_back(j);
  }
  if (options.json) {
    std::cout << json{{"flows", flows}}.dump(2) << std::endl;
  } else {
    std::cout << "flow states stored in the target clusters (" << options.config_path << "):\n"
              << table << std::flush;
  }
  return rc;
}

}  // namespace kmirror::observe
