#include "observe/status_cli.h"

#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "observe/cluster_lag.h"
#include "observe/flow_states.h"
#include "observe/http_server.h"

namespace kmirror::observe {

namespace {

using nlohmann::json;

struct Target {
  std::string base;  // scheme://host:port
  std::string path;  // prefix before /status, without a trailing slash
};

std::optional<Target> parse_url(std::string url) {
  if (url.find("://") == std::string::npos) url = "http://" + url;
  size_t scheme_end = url.find("://");
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return std::nullopt;
  size_t path_start = url.find('/', scheme_end + 3);
  Target t;
  t.base = url.substr(0, path_start);
  if (t.base.size() <= scheme_end + 3) return std::nullopt;
  if (path_start != std::string::npos) t.path = url.substr(path_start);
  while (!t.path.empty() && t.path.back() == '/') t.path.pop_back();
  return t;
}

int64_t get_int(const json& j, const char* key, int64_t fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : fallback;
}

std::string count(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string bytes(int64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  if (n < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(n) / 1024);
  return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1024.0 * 1024));
}

std::string ago(int64_t then_ms, int64_t now_ms) {
  if (then_ms <= 0) return "never";
  int64_t s = std::max<int64_t>(0, (now_ms - then_ms) / 1000);
  if (s < 120) return fmt::format("{}s ago", s);
  if (s < 7200) return fmt::format("{}m ago", s / 60);
  return fmt::format("{}h ago", s / 3600);
}

// Records/s between two documents; empty when there is no earlier one or a counter went back
// (kmirror restarted).
std::string rate(int64_t now, int64_t before, double seconds) {
  if (seconds <= 0 || now < before) return "-";
  return fmt::format("{:.1f}", static_cast<double>(now - before) / seconds);
}

// p99 of the records replicated between two documents, from their histogram buckets (the
// upper bound of the bucket holding it, capped by the largest latency seen); nullopt when no
// record was replicated in between.
std::optional<int64_t> window_p99(const json& now, const json& before) {
  const json& b = now["buckets"];
  const json& a = before["buckets"];
  if (!b.is_array() || !a.is_array() || a.size() != b.size()) return std::nullopt;
  std::vector<int64_t> delta;
  int64_t total = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    delta.push_back(b[i].get<int64_t>() - a[i].get<int64_t>());
    if (delta.back() < 0) return std::nullopt;  // restarted
    total += delta.back();
  }
  if (total == 0) return std::nullopt;
  const int64_t max = get_int(now, "max");
  const auto rank = static_cast<int64_t>(0.99 * static_cast<double>(total));
  int64_t seen = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    seen += delta[i];
    if (seen > rank) {
      return i < now["bounds"].size() ? std::min(now["bounds"][i].get<int64_t>(), max) : max;
    }
  }
  return max;
}

std::string cluster(const json& c) {
  std::string s = c.value("name", "?");
  if (!c.value("reachable", false)) s += " (unreachable)";
  return s;
}

// A table of left-aligned text columns; numbers are right-aligned when `right[i]`.
class Table {
 public:
  Table(std::vector<std::string> header, std::vector<bool> right) : right_(std::move(right)) {
    rows_.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str(const std::string& indent) const {
    std::vector<size_t> width(rows_[0].size(), 0);
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    std::string out;
    for (const auto& r : rows_) {
      std::string line = indent;
      for (size_t i = 0; i < r.size(); ++i) {
        bool last = i + 1 == r.size();
        if (right_[i]) {
          line += std::string(width[i] - r[i].size(), ' ') + r[i];
        } else {
          line += last ? r[i] : r[i] + std::string(width[i] - r[i].size(), ' ');
        }
        if (!last) line += "  ";
      }
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

std::optional<std::string> token(const StatusOptions& o) {
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    if (!in) throw std::runtime_error("cannot read --token-file " + o.token_file);
    std::string t;
    std::getline(in, t);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    return t;
  }
  if (const char* env = std::getenv(kTokenEnv); env != nullptr && *env != '\0') return env;
  return std::nullopt;
}

struct Fetch {
  int exit_code = 0;  // non-zero: `message` says why
  std::string message;
  json doc;
};

std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection refused or no route";
    case httplib::Error::ConnectionTimeout:
      return "timed out connecting";
    case httplib::Error::Read:
      return "no answer";
    default:
      return httplib::to_string(e);
  }
}

Fetch fetch(httplib::Client& client, const Target& target, const std::string& url,
            const std::optional<std::string>& bearer) {
  httplib::Headers headers;
  if (bearer) headers.emplace("Authorization", "Bearer " + *bearer);
  auto res = client.Get(target.path + "/status", headers);
  if (!res) {
    return {3,
            "nothing answers at " + url + " (" + describe(res.error()) +
                "): is `kmirror run` running there with its HTTP server enabled (http.bind)? "
                "Point --url at it",
            {}};
  }
  if (res->status == 401) {
    return {1,
            url + " requires a bearer token: pass --token-file or set " + std::string(kTokenEnv),
            {}};
  }
  if (res->status != 200) {
    return {1, fmt::format("{} answered HTTP {} to /status; is it kmirror?", url, res->status), {}};
  }
  json doc = json::parse(res->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("flows")) {
    return {1, url + " answered /status with something that is not kmirror's status JSON", {}};
  }
  return {0, {}, std::move(doc)};
}

// The lag of the configured flows read from the clusters; exit 1 when a flow's clusters
// could not be read.
int clusters_status(const StatusOptions& o, const std::string& why, const std::atomic<bool>& stop) {
  const config::Config cfg = config::load_file(o.config_path);
  if (!o.flow.empty() && std::none_of(cfg.flows.begin(), cfg.flows.end(),
                                      [&](const auto& f) { return f.id == o.flow; })) {
    std::cerr << "kmirror status: no flow '" << o.flow << "' in " << o.config_path
              << "; --flow takes a flow id of the configuration" << std::endl;
    return 2;
  }
  const bool tty = isatty(STDOUT_FILENO) != 0;
  int rc = 0;
  while (true) {
    json doc = cluster_status(cfg, o.flow, std::chrono::seconds(10));
    // Each flow's durable state beside its lag, so one document tells both.
    int states_rc = 0;
    json states = stored_flow_states(cfg, states_rc);
    for (auto& f : doc["flows"]) {
      for (const auto& st : states) {
        if (st["id"] != f["id"]) continue;
        for (const char* key : {"state", "mode", "since_ms"}) {
          if (st.contains(key)) f[key] = st[key];
        }
      }
    }
    rc = 0;
    for (const auto& f : doc["flows"]) {
      // A failed-over flow's source may well be gone: that is no failure of this command.
      if (f["error"].is_string() && f.value("state", std::string("running")) == "running") rc = 1;
    }
    if (o.json) {
      std::cout << (o.watch ? doc.dump() : doc.dump(2)) << std::endl;
    } else {
      if (o.watch && tty) std::cout << "\033[H\033[2J";
      std::cout << why << "lag computed from the clusters of " << o.config_path << "\n\n"
                << render_cluster_status(doc) << std::flush;
    }
    if (!o.watch) break;
    for (int t = 0; t < 20 && !stop; ++t)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (stop) break;
  }
  return rc;
}

}  // namespace

std::string render_status(const json& st, const json* previous, const std::string& url,
                          int max_partitions) {
  const int64_t now = get_int(st, "time_ms");
  double seconds = 0;
  std::map<std::string, const json*> prev_flows;
  std::map<std::tuple<std::string, std::string, int64_t>, int64_t> prev_parts;
  if (previous != nullptr) {
    seconds = static_cast<double>(now - get_int(*previous, "time_ms")) / 1000.0;
    for (const auto& f : (*previous)["flows"]) {
      prev_flows[f.value("id", "")] = &f;
      for (const auto& p : f["partitions"]) {
        prev_parts[{f.value("id", ""), p.value("topic", ""), get_int(p, "partition")}] =
            get_int(p, "records_replicated");
      }
    }
  }

  std::string out = fmt::format("kmirror {} at {}: ", st.value("version", "?"), url);
  if (st.value("ready", false)) {
    out += "ready\n";
  } else {
    out += "NOT READY\n";
    for (const auto& r : st["not_ready"]) out += "  - " + r.get<std::string>() + "\n";
  }
  out += "\n";

  Table flows({"FLOW", "STATE", "ROLE", "SOURCE -> TARGET", "TOPICS", "LAG", "RECORDS/S", "P99 MS",
               "REPLICATED", "IN FLIGHT", "ERRORS", "TOPIC SYNC"},
              {false, false, false, false, true, true, true, true, true, true, true, false});
  for (const auto& f : st["flows"]) {
    const std::string id = f.value("id", "");
    const json& lat = f["latency_ms"];
    std::string r = "-";
    std::string p99 = get_int(lat, "count") > 0 ? count(get_int(lat, "p99")) : "-";
    if (auto it = prev_flows.find(id); it != prev_flows.end()) {
      r = rate(get_int(f, "records_replicated"), get_int(*it->second, "records_replicated"),
               seconds);
      auto w = window_p99(lat, (*it->second)["latency_ms"]);
      p99 = w ? count(*w) : "-";
    }
    std::string state = f.value("state", "?");
    if (f.value("backpressure", false)) state += " (backpressure)";
    // The leader does the flow's control-plane work (topics, configs, ACLs, groups); every
    // instance copies its share of the partitions.
    const std::string role = f.value("control_leader", false) ? "leader" : "member";
    flows.add({id, state, role, cluster(f["source"]) + " -> " + cluster(f["target"]),
               std::to_string(get_int(f, "topics")), count(get_int(f, "lag")), r, p99,
               count(get_int(f, "records_replicated")), bytes(get_int(f, "inflight_bytes")),
               count(get_int(f, "errors_total")), ago(get_int(f, "last_topic_sync_ms"), now)});
  }
  out += flows.str("");
  if (previous != nullptr) {
    out += fmt::format("(RECORDS/S and P99 MS: over the last {:.1f} s)\n", seconds);
  } else {
    out += "(P99 MS: since kmirror started)\n";
  }

  struct Row {
    const json* flow;
    const json* p;
  };
  std::vector<Row> rows;
  std::vector<std::string> topic_errors;
  for (const auto& f : st["flows"]) {
    for (const auto& p : f["partitions"]) rows.push_back({&f, &p});
    for (const auto& e : f["topic_errors"]) {
      topic_errors.push_back(f.value("id", "") + ": " + e.get<std::string>());
    }
  }
  if (!rows.empty()) {
    size_t shown = rows.size();
    if (max_partitions > 0 && rows.size() > static_cast<size_t>(max_partitions)) {
      // The most lagging (and stopped) partitions are the ones worth seeing.
      std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        auto key = [](const Row& r) {
          return std::pair{(*r.p).value("stopped", false), get_int(*r.p, "lag")};
        };
        return key(a) > key(b);
      });
      shown = static_cast<size_t>(max_partitions);
      rows.resize(shown);
      std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return std::tuple{(*a.flow).value("id", ""), (*a.p).value("topic", ""),
                          get_int(*a.p, "partition")} < std::tuple{(*b.flow).value("id", ""),
                                                                   (*b.p).value("topic", ""),
                                                                   get_int(*b.p, "partition")};
      });
    }
    Table parts({"FLOW", "TOPIC", "PARTITION", "POSITION", "END", "LAG", "RECORDS/S", "LAST MS",
                 "AGE MS", "STATUS"},
                {false, false, true, true, true, true, true, true, true, false});
    for (const auto& [f, p] : rows) {
      const std::string id = f->value("id", "");
      std::string r = "-";
      auto key = std::tuple{id, p->value("topic", ""), get_int(*p, "partition")};
      if (auto it = prev_parts.find(key); it != prev_parts.end()) {
        r = rate(get_int(*p, "records_replicated"), it->second, seconds);
      }
      auto opt = [](int64_t v) { return v < 0 ? std::string("-") : count(v); };
      std::string status = "ok";
      if (p->value("stopped", false)) status = "STOPPED: " + (*p)["error"].get<std::string>();
      parts.add({id, p->value("topic", ""), std::to_string(get_int(*p, "partition")),
                 opt(get_int(*p, "position", -1)), opt(get_int(*p, "source_end", -1)),
                 count(get_int(*p, "lag")), r, opt(get_int(*p, "last_latency_ms", -1)),
                 opt(get_int(*p, "record_age_ms", -1)), status});
    }
    out += "\n" + parts.str("");
    size_t total = 0;
    for (const auto& f : st["flows"]) total += f["partitions"].size();
    if (shown < total) {
      out += fmt::format("({} more partitions not shown; --json lists them all)\n", total - shown);
    }
  }

  if (!topic_errors.empty()) {
    out += "\ntopic errors:\n";
    for (const auto& e : topic_errors) out += "  " + e + "\n";
  }
  const json& events = st["events"];
  if (events.is_array() && !events.empty()) {
    out += "\nrecent events:\n";
    size_t from = events.size() > 5 ? events.size() - 5 : 0;
    for (size_t i = from; i < events.size(); ++i) {
      const json& e = events[i];
      out += fmt::format("  {:>8}  {:<7}  {}  {}\n", ago(get_int(e, "time_ms"), now),
                         e.value("level", ""), e.value("flow", ""), e.value("message", ""));
    }
  }
  return out;
}

int status_command(const StatusOptions& options, const std::atomic<bool>& stop) {
  if (!options.config_path.empty() && !options.json) {
    // The durable states first; then the live view, or the lag from the clusters.
    bool http_enabled = false;
    int rc = print_stored_flow_states(options, http_enabled);
    if (rc == 2) return rc;
    std::cout << "\n";
  }
  auto target = parse_url(options.url);
  if (!target) {
    std::cerr << "kmirror status: invalid --url '" << options.url
              << "'; write it like http://127.0.0.1:9644" << std::endl;
    return 2;
  }
  std::optional<std::string> bearer;
  try {
    bearer = token(options);
  } catch (const std::exception& e) {
    std::cerr << "kmirror status: " << e.what() << std::endl;
    return 2;
  }
  if (options.from_clusters) {
    if (options.config_path.empty()) {
      std::cerr << "kmirror status: --from-clusters needs --config <file>" << std::endl;
      return 2;
    }
    return clusters_status(options, "", stop);
  }
  httplib::Client client(target->base);
  client.set_connection_timeout(3, 0);
  client.set_read_timeout(10, 0);
  const bool tty = isatty(STDOUT_FILENO) != 0;

  json previous;
  bool have_previous = false;
  int rc = 0;
  // Without --watch a second poll a second later still gives records/s.
  const int polls = options.watch ? -1 : (options.json ? 1 : 2);
  for (int i = 0; polls < 0 || i < polls; ++i) {
    if (i > 0) {
      for (int t = 0; t < 10 && !stop; ++t)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (stop) break;
    }
    Fetch f = fetch(client, *target, options.url, bearer);
    if (f.exit_code == 3 && !have_previous && !options.config_path.empty()) {
      return clusters_status(options, "no kmirror answers at " + options.url + ": ", stop);
    }
    if (f.exit_code != 0) {
      std::cerr << "kmirror status: " << f.message << std::endl;
      if (!options.watch || !have_previous) return f.exit_code;
      continue;  // keep watching through a restart of the instance
    }
    if (options.json) {
      std::cout << (options.watch ? f.doc.dump() : f.doc.dump(2)) << std::endl;
    } else if (options.watch || i + 1 == polls) {
      std::string text = render_status(f.doc, have_previous ? &previous : nullptr, options.url,
                                       options.max_partitions);
      if (options.watch && tty) std::cout << "\033[H\033[2J";
      std::cout << text << std::flush;
      if (options.watch && !tty) std::cout << "\n";
    }
    rc = f.doc.value("ready", false) ? 0 : kNotReady;
    previous = std::move(f.doc);
    have_previous = true;
  }
  return options.watch ? 0 : rc;  // --watch ends on Ctrl-C: nothing to report then
}

}  // namespace kmirror::observe
