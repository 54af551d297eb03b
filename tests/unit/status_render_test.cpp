// `kmirror status` tables, from /status documents built here (no instance, no cluster).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "observe/status_cli.h"

namespace {

using kmirror::observe::render_status;
using nlohmann::json;

json flow(const std::string& id, bool leader, bool target_reachable, int64_t replicated) {
  return {{"id", id},
          {"state", "replicating"},
          {"control_leader", leader},
          {"source", {{"name", "a"}, {"reachable", true}}},
          {"target", {{"name", "b"}, {"reachable", target_reachable}}},
          {"topics", 1},
          {"lag", 0},
          {"records_replicated", replicated},
          {"inflight_bytes", 0},
          {"errors_total", 0},
          {"latency_ms", {{"count", 0}}},
          {"partitions", json::array()},
          {"topic_errors", json::array()}};
}

// The text of the flows table's row for `id`.
std::string row_of(const std::string& table, const std::string& id) {
  for (size_t at = 0; (at = table.find(id + "  ", at)) != std::string::npos; ++at) {
    if (at == 0 || table[at - 1] == '\n') return table.substr(at, table.find('\n', at) - at);
  }
  return {};
}

TEST(StatusRender, ShowsWhichInstanceLeadsEachFlow) {
  json doc = {{"version", "test"},
              {"time_ms", 10'000},
              {"ready", true},
              {"not_ready", json::array()},
              {"flows", {flow("a->b", true, true, 5), flow("a->c", false, true, 7)}},
              {"events", json::array()}};
  std::string text = render_status(doc, nullptr, "http://x", 50);
  EXPECT_NE(text.find("ROLE"), std::string::npos) << text;
  EXPECT_NE(row_of(text, "a->b").find("leader"), std::string::npos) << text;
  EXPECT_EQ(row_of(text, "a->b").find("member"), std::string::npos) << text;
  EXPECT_NE(row_of(text, "a->c").find("member"), std::string::npos) << text;
  EXPECT_NE(text.find(": ready"), std::string::npos) << text;
}

TEST(StatusRender, NamesWhyAnInstanceIsNotReady) {
  json doc = {{"version", "test"},
              {"time_ms", 10'000},
              {"ready", false},
              {"not_ready", {"flow a->b: target cluster b is unreachable"}},
              {"flows", {flow("a->b", true, false, 5)}},
              {"events", json::array()}};
  json before = doc;
  before["time_ms"] = 9'000;
  before["flows"][0]["records_replicated"] = 3;
  std::string text = render_status(doc, &before, "http://x", 50);
  EXPECT_NE(text.find("NOT READY"), std::string::npos) << text;
  EXPECT_NE(text.find("target cluster b is unreachable"), std::string::npos) << text;
  EXPECT_NE(row_of(text, "a->b").find("b (unreachable)"), std::string::npos) << text;
  EXPECT_NE(row_of(text, "a->b").find("2.0"), std::string::npos) << "2 records in 1 s: " << text;
}

}  // namespace
