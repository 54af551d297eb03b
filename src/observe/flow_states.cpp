#include "observe/flow_states.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "sync/flow_state.h"

namespace kmirror::observe {

using nlohmann::json;

json stored_flow_states(const config::Config& cfg, int& rc) {
  json flows = json::array();
  for (const auto& f : cfg.flows) {
    const auto& target = cfg.cluster(f.target);
    json j = {{"id", f.id}, {"source", f.source}, {"target", f.target}};
    try {
      sync::FlowStateStore store(target.client_properties());
      auto st = store.read(f.id, std::chrono::seconds(15)).value_or(sync::FlowState{});
      j["state"] = st.state;
      j["mode"] = st.mode;
      j["since_ms"] = st.since_ms;
    } catch (const std::exception& e) {
      j["state"] = "unknown";
      j["mode"] = "";
      j["error"] = "target " + target.name + " (" + target.bootstrap_servers +
                   ") does not answer: " + e.what();
      rc = 3;
    }
    flows.push_back(j);
  }
  return flows;
}

int print_stored_flow_states(const StatusOptions& options, bool& http_enabled) {
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
  int rc = 0;
  json flows = stored_flow_states(cfg, rc);
  std::string table = fmt::format("  {:<24}  {:<24}  {:<13}  {:<9}  {}\n", "FLOW",
                                  "SOURCE -> TARGET", "STATE", "MODE", "SINCE");
  for (const auto& j : flows) {
    std::string since = "-";
    if (j.contains("error")) {
      since = j["error"].get<std::string>();
    } else if (j["since_ms"].get<int64_t>() > 0) {
      since = fmt::format("{}s ago", (now - j["since_ms"].get<int64_t>()) / 1000);
    }
    const std::string mode = j["mode"].get<std::string>();
    table += fmt::format("  {:<24}  {:<24}  {:<13}  {:<9}  {}\n", j["id"].get<std::string>(),
                         j["source"].get<std::string>() + " -> " + j["target"].get<std::string>(),
                         j["state"].get<std::string>(), mode.empty() ? "-" : mode, since);
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
