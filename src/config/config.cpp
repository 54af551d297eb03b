#include "config/config.h"

#include <sys/stat.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <span>
#include <sstream>
#include <string_view>

#include "config/values.h"
#include "core/topic_filter.h"

namespace kmirror::config {

std::map<std::string, std::string> ClusterConfig::client_properties() const {
  auto props = properties;
  props["bootstrap.servers"] = bootstrap_servers;
  return props;
}

const ClusterConfig& Config::cluster(const std::string& name) const {
  for (const auto& c : clusters) {
    if (c.name == name) return c;
  }
  throw std::out_of_range("no cluster named '" + name + "' in the configuration");
}

namespace {

using Properties = std::map<std::string, std::string>;
using Keys = std::span<const std::string_view>;

// Topic names are at most 249 characters, so longer patterns are almost certainly mistakes;
// the cap also bounds std::regex's recursive compiler (one stack frame per term and group).
constexpr size_t kMaxPatternLength = 2048;
constexpr int kMaxPatternNesting = 32;
// Longer intervals are pointless and would overflow time_point arithmetic in nanoseconds.
constexpr int64_t kMaxIntervalMs = 24LL * 60 * 60 * 1000;
constexpr int64_t kMinInflightBytes = 1LL << 20;
constexpr int64_t kMaxEpochMs = 253402300799999;  // 9999-12-31T23:59:59.999Z
// Secret files are small; the cap keeps a mistaken ${file:/dev/zero} from eating memory.
constexpr off_t kMaxSecretFileBytes = 1 << 20;
constexpr size_t kMaxFileBytes = 16 << 20;
constexpr size_t kMaxClusterNameLength = 100;  // it prefixes topic names (249 chars at most)
constexpr size_t kMaxFlowIdLength = 200;       // it names consumer groups and state

constexpr std::array<std::string_view, 3> kTopKeys = {"clusters", "flows", "http"};
constexpr std::array<std::string_view, 3> kClusterKeys = {"name", "bootstrap_servers",
                                                          "properties"};
constexpr std::array<std::string_view, 22> kFlowKeys = {"source",
                                                        "target",
                                                        "id",
                                                        "topics",
                                                        "groups",
                                                        "pinned_configs",
                                                        "naming",
                                                        "start",
                                                        "delivery",
                                                        "provenance_headers",
                                                        "forward",
                                                        "replication_factor",
                                                        "sync_interval",
                                                        "commit_interval",
                                                        "heartbeats",
                                                        "heartbeat_interval",
                                                        "buffer",
                                                        "transaction",
                                                        "producer",
                                                        "consumer",
                                                        "acls",
                                                        "source_connections"};
constexpr std::array<std::string_view, 2> kPatternKeys = {"include", "exclude"};
constexpr std::array<std::string_view, 3> kBufferKeys = {"max_inflight_bytes",
                                                         "max_inflight_records", "pause_after"};
constexpr std::array<std::string_view, 2> kTransactionKeys = {"interval", "max_bytes"};
constexpr std::array<std::string_view, 2> kAclKeys = {"enabled", "copy_allow_write"};
constexpr std::array<std::string_view, 3> kHttpKeys = {"bind", "enabled", "token_file"};

// Makes text safe for a one-line message: control characters escaped, long text shortened.
std::string printable(std::string_view s, size_t max = 100) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quote(std::string_view s) {
  return "'" + printable(s) + "'";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string join(Keys keys) {
  return join(std::vector<std::string>(keys.begin(), keys.end()));
}

std::string found(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

bool contains(Keys keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// One key/value of a YAML map, with the lines errors point at.
struct Entry {
  std::string key;
  int key_line = 1;
  YAML::Node value;

  // Line of the value; a null value has no useful mark (yaml-cpp puts it on the next token).
  int line() const {
    if (value.IsNull() || value.Mark().is_null()) return key_line;
    return value.Mark().line + 1;
  }
};

struct Map {
  int line = 1;
  std::vector<Entry> entries;

  const Entry* find(std::string_view key) const {
    for (const auto& e : entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
  // The value when it is a plain scalar; used to name things before they are validated.
  std::optional<std::string> peek(std::string_view key) const {
    const Entry* e = find(key);
    if (e == nullptr || !e->value.IsScalar() || e->value.Scalar().empty()) return std::nullopt;
    return e->value.Scalar();
  }
};

int line_of(const YAML::Node& node, int fallback) {
  if (!node.IsDefined() || node.IsNull() || node.Mark().is_null()) return fallback;
  return node.Mark().line + 1;
}

// Records a document's root node, to tell a real second document from an empty one.
class RootProbe : public YAML::EventHandler {
 public:
  bool has_value() const { return seen_ && !null_; }
  int line() const { return mark_.is_null() ? 1 : mark_.line + 1; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { root(m, true); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { root(m, false); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    root(m, false);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    root(m, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    root(m, false);
  }
  void OnMapEnd() override {}

 private:
  void root(const YAML::Mark& m, bool is_null) {
    if (seen_) return;
    seen_ = true;
    null_ = is_null;
    mark_ = m;
  }

  bool seen_ = false;
  bool null_ = false;
  YAML::Mark mark_ = YAML::Mark::null_mark();
};

class Loader {
 public:
  explicit Loader(std::string origin) : origin_(std::move(origin)) {}

  Config load(const std::string& text);

 private:
  struct FlowMeta {
    int line = 1;
    int provenance_line = 1;
  };

  [[noreturn]] void fail(int line, const std::string& problem, const std::string& fix) const {
    throw ConfigError(printable(origin_, 1000) + ":" + std::to_string(line) + ": " + problem +
                      "; " + fix);
  }

  Map as_map(const YAML::Node& node, int line, const std::string& what, const std::string& fix,
             const std::string& where) const;
  void check_keys(const Map& map, Keys known, const std::string& where,
                  const std::function<std::string(const std::string&)>& hint) const;
  const Entry& require(const Map& map, std::string_view key, const std::string& where,
                       const std::string& fix) const;
  std::string string_value(const Entry& e, const std::string& where, const std::string& fix) const;
  bool bool_value(const Entry& e, const std::string& where) const;
  std::vector<std::string> string_list(const Entry& e, const std::string& where) const;
  Properties properties(const Entry& e, const std::string& where) const;
  std::string resolve(const std::string& raw, const std::string& what, int line) const;
  std::chrono::milliseconds interval(const Entry& e, const std::string& where) const;
  // A size such as 64MiB, at least `min` bytes (`why_min` says why in the error).
  int64_t size_of(const Entry& e, const std::string& key, const std::string& where, int64_t min,
                  const std::string& why_min) const;

  ClusterConfig parse_cluster(const YAML::Node& node, int line, size_t index);
  FlowConfig parse_flow(const YAML::Node& node, int line, size_t index);
  // `topics:` and `groups:`: include and exclude regex lists.
  void parse_patterns(const Entry& e, const std::string& name, const std::string& where,
                      std::vector<std::string>& include, std::vector<std::string>& exclude) const;
  void check_pattern(const std::string& pattern, int line, const std::string& what) const;
  StartPosition parse_start(const Entry& e, const std::string& where) const;
  HttpConfig parse_http(const Entry& e) const;
  void check_loops(const Config& config) const;

  std::string origin_;
  std::map<std::string, int> cluster_lines_;  // name -> line it was defined at
  std::map<std::string, int> flow_lines_;     // id -> line it was defined at
  std::vector<FlowMeta> flow_meta_;           // parallel to Config::flows
};

Map Loader::as_map(const YAML::Node& node, int line, const std::string& what,
                   const std::string& fix, const std::string& where) const {
  Map map;
  map.line = line_of(node, line);
  if (node.IsNull()) return map;
  if (!node.IsMap()) fail(map.line, what + " must be a map, found " + found(node), fix);
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;  // a copy: operator-> returns a temporary proxy
    int key_line = line_of(key, map.line);
    if (!key.IsScalar()) {
      fail(key_line, "a key " + where + " is " + found(key) + ", not a name",
           "write keys as plain names");
    }
    map.entries.push_back(Entry{key.Scalar(), key_line, it->second});
  }
  return map;
}

void Loader::check_keys(const Map& map, Keys known, const std::string& where,
                        const std::function<std::string(const std::string&)>& hint) const {
  std::map<std::string, int> seen;
  for (const auto& e : map.entries) {
    auto [first, inserted] = seen.emplace(e.key, e.key_line);
    if (!inserted) {
      fail(e.key_line,
           "duplicate key " + quote(e.key) + " " + where + " (first given at line " +
               std::to_string(first->second) + ")",
           "keep only one of them");
    }
    if (contains(known, e.key)) continue;
    std::string problem = "unknown key " + quote(e.key) + " " + where;
    std::string_view best;
    size_t best_distance = 4;
    for (auto candidate : known) {
      size_t d = edit_distance(e.key, candidate);
      if (d < best_distance) {
        best = candidate;
        best_distance = d;
      }
    }
    // A suggestion that rewrites the whole key is noise ("ab" -> "id").
    if (!best.empty() && best_distance < e.key.size()) {
      fail(e.key_line, problem, "did you mean '" + std::string(best) + "'?");
    }
    if (std::string fix = hint ? hint(e.key) : ""; !fix.empty()) fail(e.key_line, problem, fix);
    fail(e.key_line, problem, "the keys allowed here are: " + join(known));
  }
}

const Entry& Loader::require(const Map& map, std::string_view key, const std::string& where,
                             const std::string& fix) const {
  const Entry* e = map.find(key);
  if (e == nullptr) fail(map.line, "missing required key '" + std::string(key) + "' " + where, fix);
  return *e;
}

std::string Loader::string_value(const Entry& e, const std::string& where,
                                 const std::string& fix) const {
  if (e.value.IsNull()) fail(e.line(), quote(e.key) + " " + where + " has no value", fix);
  if (!e.value.IsScalar()) {
    fail(e.line(), quote(e.key) + " " + where + " must be a single value, found " + found(e.value),
         fix);
  }
  return e.value.Scalar();
}

bool Loader::bool_value(const Entry& e, const std::string& where) const {
  static const std::string kFix = "write true or false";
  std::string v = string_value(e, where, kFix);
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  fail(e.line(), "invalid " + quote(e.key) + " " + quote(v) + " " + where, kFix);
}

std::vector<std::string> Loader::string_list(const Entry& e, const std::string& where) const {
  std::vector<std::string> out;
  if (e.value.IsNull()) return out;
  if (!e.value.IsSequence()) {
    fail(e.line(), quote(e.key) + " " + where + " must be a list, found " + found(e.value),
         "write a list such as [\".*\"] or one '- item' per line");
  }
  for (const auto& item : e.value) {
    int line = line_of(item, e.line());
    if (!item.IsScalar()) {
      fail(line, "an entry of " + quote(e.key) + " " + where + " is " + found(item),
           "each entry must be a single string");
    }
    out.push_back(item.Scalar());
  }
  return out;
}

// Values are never put into messages: any of them may be a secret (a password, a key, a JAAS
// line), and a mistyped map can turn a secret into a value of an unexpected shape.
Properties Loader::properties(const Entry& e, const std::string& where) const {
  std::string what = quote(e.key) + " " + where;
  Map map = as_map(e.value, e.key_line, what,
                   "write one librdkafka property per line as 'name: value'", where);
  Properties out;
  for (const auto& p : map.entries) {
    std::string prop = "property " + quote(p.key) + " of " + what;
    if (p.key.empty()) fail(p.key_line, "empty property name in " + what, "name the property");
    if (out.contains(p.key)) {
      fail(p.key_line, "duplicate " + prop, "keep only one of them");
    }
    if (p.key == "bootstrap.servers") {
      fail(p.key_line, prop + " duplicates the cluster's address",
           "set it with the cluster's 'bootstrap_servers' key instead");
    }
    if (p.value.IsNull()) {
      fail(p.line(), prop + " has no value", "give it a value or remove it");
    }
    if (!p.value.IsScalar()) {
      fail(p.line(), prop + " must be a single value, found " + found(p.value),
           "write the value as one string (quote it if it contains ': ' or '#')");
    }
    out[p.key] = resolve(p.value.Scalar(), prop, p.line());
  }
  return out;
}

// Replaces ${env:NAME} and ${file:/path}. Results are not scanned again, so a secret holding
// "${" is kept as is; other "${" text is left alone too.
std::string Loader::resolve(const std::string& raw, const std::string& what, int line) const {
  std::string out;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t start = raw.find("${", pos);
    if (start == std::string::npos) break;
    std::string_view rest = std::string_view(raw).substr(start + 2);
    bool env = rest.starts_with("env:");
    bool file = rest.starts_with("file:");
    if (!env && !file) {
      out.append(raw, pos, start + 2 - pos);
      pos = start + 2;
      continue;
    }
    std::string kind = env ? "env" : "file";
    size_t name_start = start + 2 + kind.size() + 1;
    size_t end = raw.find('}', name_start);
    if (end == std::string::npos) {
      fail(line, what + " has an unterminated '${" + kind + ":' reference", "close it with '}'");
    }
    std::string name = raw.substr(name_start, end - name_start);
    if (name.empty()) {
      fail(line, what + " has an empty '${" + kind + ":}' reference",
           env ? "write ${env:VARIABLE_NAME}" : "write ${file:/path/to/file}");
    }
    out.append(raw, pos, start - pos);
    if (env) {
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) {
        fail(line, what + " refers to environment variable " + quote(name) + ", which is not set",
             "set it in kmirror's environment or change the reference");
      }
      out += value;
    } else {
      std::string problem = what + " refers to file " + quote(name);
      std::string fix = "make the file readable by kmirror or change the reference";
      struct stat st {};
      if (::stat(name.c_str(), &st) != 0) {
        fail(line, problem + ", which cannot be read (" + std::strerror(errno) + ")", fix);
      }
      // A FIFO or device could block or never end.
      if (!S_ISREG(st.st_mode)) fail(line, problem + ", which is not a regular file", fix);
      if (st.st_size > kMaxSecretFileBytes) {
        fail(line, problem + ", which is larger than 1 MiB",
             "reference a file holding only the value");
      }
      std::ifstream in(name, std::ios::binary);
      if (!in) fail(line, problem + ", which cannot be opened", fix);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad()) fail(line, problem + ", which cannot be read", fix);
      // Files written by editors and `echo` end with a newline that is not part of the value.
      while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
        content.pop_back();
      }
      out += content;
    }
    pos = end + 1;
  }
  out.append(raw, std::min(pos, raw.size()));
  return out;
}

int64_t Loader::size_of(const Entry& e, const std::string& key, const std::string& where,
                        int64_t min, const std::string& why_min) const {
  const std::string min_text =
      min >= (1LL << 20) ? std::to_string(min >> 20) + "MiB" : std::to_string(min >> 10) + "KiB";
  const std::string fix =
      "write a whole number of bytes, optionally followed by B, KiB, MiB, GiB, KB, MB or GB "
      "(e.g. 64MiB); at least " +
      min_text;
  std::string v = string_value(e, where, fix);
  auto bytes = parse_size_bytes(v);
  if (!bytes) fail(e.line(), "invalid size " + quote(v) + " for '" + key + "' " + where, fix);
  if (*bytes < min) {
    fail(e.line(), "'" + key + "' " + where + " is below the minimum of " + min_text,
         "use at least " + min_text + " " + why_min);
  }
  return *bytes;
}

std::chrono::milliseconds Loader::interval(const Entry& e, const std::string& where) const {
  static const std::string kFix =
      "write a whole number followed by ms, s or m (e.g. 500ms, 10s, 5m), or a bare number of "
      "milliseconds";
  std::string text = string_value(e, where, kFix);
  auto ms = parse_duration_ms(text);
  if (!ms)
    fail(e.line(), "invalid duration " + quote(text) + " for " + quote(e.key) + " " + where, kFix);
  if (*ms <= 0) fail(e.line(), quote(e.key) + " " + where + " must be greater than 0", kFix);
  if (*ms > kMaxIntervalMs) {
    fail(e.line(), quote(e.key) + " " + where + " is longer than 24 hours", "use at most 1440m");
  }
  return std::chrono::milliseconds(*ms);
}

Config Loader::load(const std::string& text) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
    // A second document would be silently ignored; look for one with the event parser, as
    // YAML::LoadAll loops forever on some invalid input in yaml-cpp 0.7 (jbeder/yaml-cpp#1319).
    std::istringstream in(text);
    YAML::Parser parser(in);
    RootProbe first;
    RootProbe second;
    if (parser.HandleNextDocument(first) && parser.HandleNextDocument(second) &&
        second.has_value()) {
      fail(second.line(), "the file holds more than one YAML document",
           "kmirror reads a single document; remove the '---' separators");
    }
  } catch (const YAML::Exception& e) {
    int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    fail(line, "invalid YAML: " + printable(e.msg),
         "fix the syntax at this line or the one before");
  }
  if (doc.IsNull()) {
    // yaml-cpp reads some invalid text as an empty document; do not call that file empty.
    std::istringstream lines(text);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
      size_t start = line.find_first_not_of(" \t\r");
      if (start == std::string::npos || line[start] == '#' || line.starts_with("---") ||
          line.starts_with("...") || line.starts_with("%")) {
        continue;
      }
      fail(number, "no configuration could be read",
           "check the YAML syntax here; the top level must be a map with 'clusters' and 'flows'");
    }
    fail(1, "the configuration is empty",
         "define 'clusters' and 'flows' (see examples/kmirror.yaml)");
  }
  const std::string top = "at the top level";
  Map root = as_map(doc, 1, "the configuration",
                    "write the top level as 'clusters:', 'flows:' and optionally 'http:'", top);
  check_keys(root, kTopKeys, top, [](const std::string& key) -> std::string {
    if (contains(kClusterKeys, key)) return "'" + key + "' belongs to an entry of 'clusters'";
    if (contains(kFlowKeys, key)) return "'" + key + "' belongs to an entry of 'flows'";
    return "";
  });

  Config config;
  const Entry& clusters =
      require(root, "clusters", top,
              "add a 'clusters' list with the 'name' and 'bootstrap_servers' of each cluster");
  if (!clusters.value.IsNull() && !clusters.value.IsSequence()) {
    fail(clusters.line(), "'clusters' must be a list, found " + found(clusters.value),
         "start each cluster with '- name: ...'");
  }
  if (clusters.value.IsNull() || clusters.value.size() == 0) {
    fail(clusters.line(), "no clusters are defined",
         "add at least one entry under 'clusters' with 'name' and 'bootstrap_servers'");
  }
  for (const auto& node : clusters.value) {
    config.clusters.push_back(parse_cluster(node, clusters.line(), config.clusters.size()));
  }

  const Entry& flows = require(
      root, "flows", top, "add a 'flows' list; each flow names a 'source' and a 'target' cluster");
  if (!flows.value.IsNull() && !flows.value.IsSequence()) {
    fail(flows.line(), "'flows' must be a list, found " + found(flows.value),
         "start each flow with '- source: ...'");
  }
  if (flows.value.IsNull() || flows.value.size() == 0) {
    fail(flows.line(), "no flows are defined",
         "add at least one entry under 'flows' with a 'source' and a 'target' cluster");
  }
  for (const auto& node : flows.value) {
    config.flows.push_back(parse_flow(node, flows.line(), config.flows.size()));
  }

  if (const Entry* http = root.find("http")) config.http = parse_http(*http);
  check_loops(config);
  return config;
}

ClusterConfig Loader::parse_cluster(const YAML::Node& node, int list_line, size_t index) {
  std::string where = "in cluster #" + std::to_string(index + 1);
  int line = line_of(node, list_line);
  if (node.IsNull()) {
    fail(line, "cluster #" + std::to_string(index + 1) + " is empty",
         "give it a 'name' and 'bootstrap_servers'");
  }
  Map map = as_map(node, line, "cluster #" + std::to_string(index + 1),
                   "write each cluster as a map with 'name' and 'bootstrap_servers'", where);
  if (auto name = map.peek("name")) where = "in cluster " + quote(*name);
  check_keys(map, kClusterKeys, where, [](const std::string& key) -> std::string {
    if (key.find('.') != std::string::npos) {
      return "librdkafka properties go under 'properties' (e.g. properties: {" + printable(key) +
             ": ...})";
    }
    return "";
  });

  ClusterConfig cluster;
  const Entry& name = require(map, "name", where, "add 'name: <cluster name>'");
  cluster.name =
      string_value(name, where, "name the cluster with letters, digits, '.', '_' or '-'");
  static const std::regex kNameChars("[A-Za-z0-9._-]+");
  if (!std::regex_match(cluster.name, kNameChars) || cluster.name.size() > kMaxClusterNameLength) {
    fail(name.line(), "invalid cluster name " + quote(cluster.name),
         "use 1 to " + std::to_string(kMaxClusterNameLength) +
             " letters, digits, '.', '_' or '-' (it prefixes topic names with naming: prefix)");
  }
  if (auto [first, inserted] = cluster_lines_.emplace(cluster.name, name.line()); !inserted) {
    fail(name.line(),
         "duplicate cluster name " + quote(cluster.name) + " (first defined at line " +
             std::to_string(first->second) + ")",
         "give each cluster a unique name");
  }

  const Entry& servers =
      require(map, "bootstrap_servers", where, "add 'bootstrap_servers: \"host:9092,host2:9092\"'");
  std::string raw =
      string_value(servers, where, "write 'bootstrap_servers: \"host:9092,host2:9092\"'");
  cluster.bootstrap_servers = resolve(raw, "'bootstrap_servers' " + where, servers.line());
  std::string_view list = cluster.bootstrap_servers;
  bool bad = list.find_first_not_of(" \t,") == std::string_view::npos;
  for (size_t start = 0; !bad && start <= list.size();) {
    size_t comma = std::min(list.find(',', start), list.size());
    bad = list.substr(start, comma - start).find_first_not_of(" \t") == std::string_view::npos;
    start = comma + 1;
  }
  if (bad) {
    fail(servers.line(), "'bootstrap_servers' " + where + " has an empty address",
         "list one or more 'host:port' separated by commas");
  }

  if (const Entry* props = map.find("properties")) cluster.properties = properties(*props, where);
  return cluster;
}

FlowConfig Loader::parse_flow(const YAML::Node& node, int list_line, size_t index) {
  std::string label = "#" + std::to_string(index + 1);
  int line = line_of(node, list_line);
  if (node.IsNull()) {
    fail(line, "flow " + label + " is empty", "give it a 'source' and a 'target' cluster");
  }
  Map map = as_map(node, line, "flow " + label,
                   "write each flow as a map with 'source' and 'target'", "in flow " + label);
  if (auto id = map.peek("id")) {
    label = quote(*id);
  } else if (auto s = map.peek("source"), t = map.peek("target"); s && t) {
    label = quote(*s + "->" + *t);
  }
  const std::string where = "in flow " + label;
  check_keys(map, kFlowKeys, where, [](const std::string& key) -> std::string {
    if (contains(kPatternKeys, key)) return "put '" + key + "' under 'topics'";
    if (contains(kBufferKeys, key)) return "put '" + key + "' under 'buffer'";
    if (contains(kAclKeys, key)) return "put '" + key + "' under 'acls'";
    if (key.find('.') != std::string::npos) {
      return "librdkafka properties go under 'producer' or 'consumer'";
    }
    return "";
  });

  FlowConfig flow;
  FlowMeta meta;
  meta.line = map.line;
  std::vector<std::string> names;
  for (const auto& [name, _] : cluster_lines_) names.push_back(name);
  for (const auto* key : {"source", "target"}) {
    const Entry& e = require(map, key, where, "add '" + std::string(key) + ": <cluster name>'");
    std::string name = string_value(e, where, "name one of the clusters: " + join(names));
    if (!cluster_lines_.contains(name)) {
      fail(e.line(), "flow " + label + " names unknown cluster " + quote(name) + " as its " + key,
           "use one of the defined clusters: " + join(names));
    }
    (std::string_view(key) == "source" ? flow.source : flow.target) = name;
    if (std::string_view(key) == "target" && flow.source == flow.target) {
      fail(e.line(),
           "flow " + label + " has cluster " + quote(name) + " as both its source and target",
           "replicate between two different clusters");
    }
  }

  flow.id = flow.source + "->" + flow.target;
  int id_line = map.line;
  if (const Entry* id = map.find("id")) {
    static const std::string kFix =
        "use 1 to " + std::to_string(kMaxFlowIdLength) + " printable characters without spaces";
    flow.id = string_value(*id, where, kFix);
    id_line = id->line();
    bool printable_id =
        std::all_of(flow.id.begin(), flow.id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (flow.id.empty() || flow.id.size() > kMaxFlowIdLength || !printable_id) {
      fail(id_line, "invalid flow id " + quote(flow.id), kFix);
    }
  }
  if (auto [first, inserted] = flow_lines_.emplace(flow.id, id_line); !inserted) {
    fail(id_line,
         "duplicate flow id " + quote(flow.id) + " (first defined at line " +
             std::to_string(first->second) + ")",
         map.find("id") ? "give each flow a distinct 'id'"
                        : "give one of the flows an explicit, distinct 'id'");
  }

  if (const Entry* topics = map.find("topics")) {
    parse_patterns(*topics, "topics", where, flow.topics_include, flow.topics_exclude);
  }
  if (const Entry* groups = map.find("groups")) {
    parse_patterns(*groups, "groups", where, flow.groups_include, flow.groups_exclude);
  }
  if (const Entry* pinned = map.find("pinned_configs")) {
    flow.pinned_configs = string_list(*pinned, where);
  }

  if (const Entry* e = map.find("naming")) {
    static const std::string kFix = "use one of: identity, prefix";
    std::string v = string_value(*e, where, kFix);
    if (v == "identity") {
      flow.naming = NamingPolicy::kIdentity;
    } else if (v == "prefix") {
      flow.naming = NamingPolicy::kPrefix;
      // The target topics would be "<source>.<topic>": reserved names would never be replicated
      // onwards and could collide with kmirror's or Kafka's own topics.
      if (core::is_internal_topic(flow.source + ".t")) {
        fail(e->line(),
             "naming: prefix " + where + " would name every target topic '" + flow.source +
                 ".<topic>', which is reserved for internal topics",
             "rename cluster " + quote(flow.source) + " or use naming: identity");
      }
    } else {
      fail(e->line(), "invalid naming " + quote(v) + " " + where, kFix);
    }
  }
  if (const Entry* e = map.find("start")) flow.start = parse_start(*e, where);
  if (const Entry* e = map.find("delivery")) {
    static const std::string kFix = "use one of: at-least-once, exactly-once";
    std::string v = string_value(*e, where, kFix);
    if (v == "at-least-once") {
      flow.delivery = Delivery::kAtLeastOnce;
    } else if (v == "exactly-once") {
      flow.delivery = Delivery::kExactlyOnce;
    } else {
      fail(e->line(), "invalid delivery " + quote(v) + " " + where, kFix);
    }
  }
  if (const Entry* e = map.find("provenance_headers")) {
    flow.provenance_headers = bool_value(*e, where);
    meta.provenance_line = e->line();
  }
  if (const Entry* e = map.find("forward")) {
    static const std::string kFix = "use one of: auto, all, origin-only";
    std::string v = string_value(*e, where, kFix);
    if (v == "auto") {
      flow.forward = Forward::kAuto;
    } else if (v == "all") {
      flow.forward = Forward::kAll;
    } else if (v == "origin-only") {
      flow.forward = Forward::kOriginOnly;
    } else {
      fail(e->line(), "invalid forward " + quote(v) + " " + where, kFix);
    }
  }
  if (const Entry* e = map.find("replication_factor")) {
    static const std::string kFix =
        "use -1 (the target cluster's default) or a number from 1 to 32767";
    std::string v = string_value(*e, where, kFix);
    auto n = parse_int(v);
    if (!n || (*n != -1 && (*n < 1 || *n > 32767))) {
      fail(e->line(), "invalid replication_factor " + quote(v) + " " + where, kFix);
    }
    flow.replication_factor = static_cast<int>(*n);
  }
  if (const Entry* e = map.find("sync_interval")) flow.sync_interval = interval(*e, where);
  if (const Entry* e = map.find("commit_interval")) flow.commit_interval = interval(*e, where);
  if (const Entry* e = map.find("heartbeats")) flow.heartbeats = bool_value(*e, where);
  if (const Entry* e = map.find("heartbeat_interval")) {
    flow.heartbeat_interval = interval(*e, where);
  }
  if (const Entry* buffer = map.find("buffer")) {
    std::string buffer_where = "in 'buffer' of flow " + label;
    Map b = as_map(buffer->value, buffer->key_line, "'buffer' " + where,
                   "write 'buffer: {max_inflight_bytes: 64MiB}'", buffer_where);
    check_keys(b, kBufferKeys, buffer_where, nullptr);
    if (const Entry* e = b.find("max_inflight_bytes")) {
      flow.max_inflight_bytes = size_of(*e, "max_inflight_bytes", buffer_where, kMinInflightBytes,
                                        "so a batch of records always fits");
    }
    if (const Entry* e = b.find("max_inflight_records")) {
      static const std::string kFix = "use a number of records from 1000 to 10000000";
      std::string v = string_value(*e, buffer_where, kFix);
      auto n = parse_int(v);
      if (!n || *n < 1000 || *n > 10000000) {
        fail(e->line(), "invalid max_inflight_records " + quote(v) + " " + buffer_where, kFix);
      }
      flow.max_inflight_records = *n;
    }
    if (const Entry* e = b.find("pause_after")) flow.pause_after = interval(*e, buffer_where);
  }
  if (const Entry* txn = map.find("transaction")) {
    std::string txn_where = "in 'transaction' of flow " + label;
    Map t = as_map(txn->value, txn->key_line, "'transaction' " + where,
                   "write 'transaction: {interval: 100ms, max_bytes: 16MiB}'", txn_where);
    check_keys(t, kTransactionKeys, txn_where, nullptr);
    if (const Entry* e = t.find("interval")) flow.transaction_interval = interval(*e, txn_where);
    if (const Entry* e = t.find("max_bytes")) {
      flow.transaction_max_bytes =
          size_of(*e, "max_bytes", txn_where, 1LL << 10, "so a transaction holds a record");
    }
  }
  if (const Entry* e = map.find("source_connections")) {
    static const std::string kFix =
        "use auto, or a number of connections from 1 to " + std::to_string(kMaxSourceConnections);
    std::string v = string_value(*e, where, kFix);
    if (v == "auto") {
      flow.source_connections = 0;
    } else {
      auto n = parse_int(v);
      if (!n || *n < 1 || *n > kMaxSourceConnections) {
        fail(e->line(), "invalid source_connections " + quote(v) + " " + where, kFix);
      }
      flow.source_connections = static_cast<int>(*n);
    }
  }
  if (const Entry* e = map.find("producer")) flow.producer_properties = properties(*e, where);
  if (const Entry* e = map.find("consumer")) flow.consumer_properties = properties(*e, where);
  if (const Entry* acls = map.find("acls")) {
    std::string acls_where = "in 'acls' of flow " + label;
    Map a = as_map(acls->value, acls->key_line, "'acls' " + where,
                   "write 'acls: {enabled: true, copy_allow_write: false}'", acls_where);
    check_keys(a, kAclKeys, acls_where, nullptr);
    if (const Entry* e = a.find("enabled")) flow.acls.enabled = bool_value(*e, acls_where);
    if (const Entry* e = a.find("copy_allow_write")) {
      flow.acls.copy_allow_write = bool_value(*e, acls_where);
    }
  }

  flow_meta_.push_back(meta);
  return flow;
}

void Loader::parse_patterns(const Entry& e, const std::string& name, const std::string& where,
                            std::vector<std::string>& include_out,
                            std::vector<std::string>& exclude_out) const {
  std::string list_where = "in '" + name + "' of " + where.substr(3);
  Map map = as_map(e.value, e.key_line, "'" + name + "' " + where,
                   "write '" + name + ": {include: [\".*\"], exclude: []}'", list_where);
  check_keys(map, kPatternKeys, list_where, nullptr);
  if (const Entry* include = map.find("include")) {
    include_out = string_list(*include, list_where);
    if (include_out.empty()) {
      fail(include->line(), "'include' " + list_where + " is empty, so nothing would be replicated",
           "list at least one pattern, e.g. include: [\".*\"]");
    }
  }
  if (const Entry* exclude = map.find("exclude")) {
    exclude_out = string_list(*exclude, list_where);
  }
  // Items of a block list are on consecutive lines; use the line of each item for its error.
  for (const auto* key : {"include", "exclude"}) {
    const Entry* list = map.find(key);
    if (list == nullptr || !list->value.IsSequence()) continue;
    for (const auto& item : list->value) {
      check_pattern(item.Scalar(), line_of(item, list->line()),
                    "'" + std::string(key) + "' " + list_where);
    }
  }
}

void Loader::check_pattern(const std::string& pattern, int line, const std::string& what) const {
  const std::string fix =
      "fix the pattern (ECMAScript syntax, matched against the whole topic name)";
  if (pattern.size() > kMaxPatternLength) {
    fail(line,
         "a pattern of " + what + " is longer than " + std::to_string(kMaxPatternLength) +
             " characters",
         "split it into several entries");
  }
  int depth = 0;
  int max_depth = 0;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ')' && depth > 0) {
      --depth;
    }
  }
  if (max_depth > kMaxPatternNesting) {
    fail(line,
         "pattern " + quote(pattern) + " in " + what + " nests groups more than " +
             std::to_string(kMaxPatternNesting) + " deep",
         "simplify the pattern");
  }
  try {
    std::regex re(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    std::string reason = e.what();
    while (!reason.empty() && (reason.back() == '.' || reason.back() == '\n')) reason.pop_back();
    fail(line, "invalid pattern " + quote(pattern) + " in " + what + ": " + printable(reason), fix);
  }
}

StartPosition Loader::parse_start(const Entry& e, const std::string& where) const {
  static const std::string kFix =
      "use earliest, latest, a UTC time like 2026-01-02T03:04:05Z or epoch milliseconds";
  std::string v = string_value(e, where, kFix);
  StartPosition start;
  if (v == "earliest") {
    start.kind = StartKind::kEarliest;
  } else if (v == "latest") {
    start.kind = StartKind::kLatest;
  } else if (auto ms = parse_int(v)) {
    if (*ms < 0) fail(e.line(), "'start' " + where + " is before 1970", kFix);
    if (*ms > kMaxEpochMs) {
      fail(e.line(), "'start' " + quote(v) + " " + where + " is after the year 9999",
           "give epoch milliseconds, not micro- or nanoseconds");
    }
    start = {StartKind::kTimestamp, *ms};
  } else if (auto ts = parse_utc_timestamp_ms(v)) {
    start = {StartKind::kTimestamp, *ts};
  } else {
    fail(e.line(), "invalid start " + quote(v) + " " + where, kFix);
  }
  return start;
}

HttpConfig Loader::parse_http(const Entry& e) const {
  const std::string where = "in 'http'";
  Map map = as_map(e.value, e.key_line, "'http'", "write 'http: {bind: 127.0.0.1:9644}'", where);
  check_keys(map, kHttpKeys, where, nullptr);
  HttpConfig http;
  if (const Entry* bind = map.find("bind")) {
    static const std::string kFix =
        "write host:port, e.g. 127.0.0.1:9644, 0.0.0.0:9644 or [::1]:9644 (port 0 picks a free "
        "port)";
    http.bind = string_value(*bind, where, kFix);
    size_t colon = http.bind.rfind(':');
    bool ok = colon != std::string::npos && colon > 0;
    if (ok) {
      std::string_view host = std::string_view(http.bind).substr(0, colon);
      auto port = parse_int(std::string_view(http.bind).substr(colon + 1));
      ok = port && *port >= 0 && *port <= 65535 &&
           host.find_first_of(" \t") == std::string_view::npos;
      // An IPv6 address has colons of its own and must be bracketed.
      bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
      if (host.find(':') != std::string_view::npos && !bracketed) ok = false;
    }
    if (!ok) fail(bind->line(), "invalid bind address " + quote(http.bind) + " " + where, kFix);
  }
  if (const Entry* enabled = map.find("enabled")) http.enabled = bool_value(*enabled, where);
  if (const Entry* tf = map.find("token_file")) {
    http.token_file = string_value(*tf, where, "write the path of a file holding the bearer token");
  }
  return http;
}

// A flow without provenance headers writes copies that look like new records, so on any cycle
// of flows through it records come back to where they started (forever if no flow of the cycle
// writes headers).
void Loader::check_loops(const Config& config) const {
  std::map<std::string, std::vector<std::string>> next;
  for (const auto& f : config.flows) next[f.source].push_back(f.target);
  for (size_t i = 0; i < config.flows.size(); ++i) {
    const FlowConfig& flow = config.flows[i];
    if (flow.provenance_headers) continue;
    const int line = flow_meta_[i].provenance_line;
    for (const auto& other : config.flows) {
      if (other.source == flow.target && other.target == flow.source) {
        fail(line,
             "flows " + quote(flow.id) + " (provenance_headers: false) and " + quote(other.id) +
                 " would replicate records back and forth forever",
             "enable provenance_headers on both flows");
      }
    }
    // Breadth-first search from the target back to the source gives the shortest cycle.
    std::map<std::string, std::string> parent{{flow.target, ""}};
    std::deque<std::string> queue{flow.target};
    while (!queue.empty() && !parent.contains(flow.source)) {
      std::string at = queue.front();
      queue.pop_front();
      for (const auto& to : next[at]) {
        if (parent.emplace(to, at).second) queue.push_back(to);
      }
    }
    if (!parent.contains(flow.source)) continue;
    std::vector<std::string> path{flow.source};
    for (std::string at = flow.source; !at.empty(); at = parent[at]) path.push_back(at);
    std::reverse(path.begin() + 1, path.end());
    std::string cycle;
    for (const auto& c : path) cycle += (cycle.empty() ? "" : " -> ") + c;
    fail(line,
         "flow " + quote(flow.id) + " (provenance_headers: false) is part of the cycle " + cycle +
             ", so records would be copied back into the clusters they came from",
         "enable provenance_headers on every flow of the cycle");
  }
}

}  // namespace

Config load_string(const std::string& yaml, const std::string& origin) {
  try {
    return Loader(origin).load(yaml);
  } catch (const YAML::Exception& e) {
    // Conversions are checked before use, so this is a yaml-cpp surprise; still a config error.
    int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    throw ConfigError(printable(origin, 1000) + ":" + std::to_string(line) +
                      ": cannot read the configuration (" + printable(e.msg) +
                      "); check the YAML at this line");
  }
}

Config load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(printable(path, 1000) + ":1: cannot open the configuration file (" +
                      std::strerror(errno) + "); check the path and its permissions");
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      throw ConfigError(printable(path, 1000) +
                        ":1: the configuration file is larger than 16 MiB; check the path");
    }
  }
  if (in.bad()) {
    throw ConfigError(printable(path, 1000) + ":1: cannot read the configuration file (" +
                      std::strerror(errno) + "); check the path and its permissions");
  }
  return load_string(text, path);
}

}  // namespace kmirror::config
