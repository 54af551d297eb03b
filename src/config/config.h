// kmirror's configuration model and its YAML loader. Every error names the file, the line, the
// key and the fix (ConfigError); the CLI turns it into exit code 2.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kmirror::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClusterConfig {
  std::string name;
  std::string bootstrap_servers;
  // librdkafka client properties passed through (TLS, SASL...). Values may be written as
  // ${env:NAME} or ${file:/path} and are resolved at load time; never logged.
  std::map<std::string, std::string> properties;

  // What a librdkafka client of this cluster needs: `properties` plus bootstrap.servers.
  std::map<std::string, std::string> client_properties() const;
};

enum class NamingPolicy { kIdentity, kPrefix };  // prefix: "<source cluster name>.<topic>"

enum class StartKind { kEarliest, kLatest, kTimestamp };
struct StartPosition {
  StartKind kind = StartKind::kEarliest;
  int64_t timestamp_ms = 0;  // for kTimestamp
};

enum class Delivery { kAtLeastOnce, kExactlyOnce };

// Which records a flow forwards besides those produced on its source cluster (multi-hop).
// auto: records from any origin except one that has its own direct flow to the target in
// this configuration (a full mesh then delivers one copy per cluster, a chain still relays);
// all: every record not yet written to the target; origin-only: only records produced on the
// source cluster itself.
enum class Forward { kAuto, kAll, kOriginOnly };

// Copying the source's ACLs on replicated topics and synced groups to the target (`acls:`).
struct AclConfig {
  bool enabled = true;
  // Also topic ACLs that ALLOW WRITE (or ALL): off because the target of a flow is passive.
  bool copy_allow_write = false;
};

// source_connections: at most this many consumers per flow.
inline constexpr int kMaxSourceConnections = 16;

struct FlowConfig {
  std::string source;  // cluster name
  std::string target;  // cluster name
  std::string id;      // "<source>-><target>" unless given; names the flow's groups and state
  std::vector<std::string> topics_include = {".*"};  // regexes (ECMAScript), full match
  std::vector<std::string> topics_exclude;
  NamingPolicy naming = NamingPolicy::kIdentity;
  StartPosition start;
  Delivery delivery = Delivery::kAtLeastOnce;
  bool provenance_headers = true;
  Forward forward = Forward::kAuto;
  std::vector<std::string> groups_include = {".*"};  // consumer groups whose offsets are synced
  std::vector<std::string> groups_exclude;           // kmirror's own groups never are
  std::vector<std::string> pinned_configs;           // topic configs never changed on the target
  // Set by failback/drill, not by YAML: where partitions without a stored position start.
  std::map<std::string, std::map<int32_t, int64_t>> start_offsets;
  bool ignore_flow_state = false;  // set by failback/drill for their own reverse flows
  int replication_factor = -1;     // for created target topics; -1: the target's default
  std::chrono::milliseconds sync_interval{10000};   // topic discovery and control-plane sync
  std::chrono::milliseconds commit_interval{1000};  // how often positions are stored
  bool heartbeats = true;  // write and replicate heartbeats (latency while idle)
  std::chrono::milliseconds heartbeat_interval{1000};
  // Backpressure limit (buffer.max_inflight_bytes). With the fetchers woken as soon as records
  // are taken and mimalloc serving malloc, 16 MiB copied as fast as 32 MiB did, at 100 to 110
  // against 140 to 190 MiB peak RSS with a prefetch queue of one limit (98 to 131 MiB with
  // today's queue of two; docs/benchmarks.md).
  int64_t max_inflight_bytes = 16LL * 1024 * 1024;
  // Backpressure limit in records (buffer.max_inflight_records): each costs a few hundred
  // bytes of bookkeeping beyond its payload, which small records would multiply.
  // 50,000 copied 100-byte records 1.1x faster than 100,000, at 95 against 131 MiB peak RSS.
  int64_t max_inflight_records = 50000;
  // How long the target may stay over the limits before the source partitions are paused
  // (buffer.pause_after): a pause drops the prefetched records, but lets the consumer keep
  // serving its group while the target is stuck.
  std::chrono::milliseconds pause_after{5000};
  // Exactly-once only: a transaction commits after this long or this many bytes, whichever
  // comes first (transaction.interval, transaction.max_bytes).
  std::chrono::milliseconds transaction_interval{100};
  int64_t transaction_max_bytes = 16LL * 1024 * 1024;
  // Source consumers of the flow (source_connections), each with its own connection to every
  // source broker and its share of the partitions; 0 (auto): one, or kLongLinkConnections when
  // the source is a long round trip away. librdkafka keeps one fetch in flight per broker
  // connection, so over a long link one connection carries at most a fetch per round trip.
  int source_connections = 0;
  std::map<std::string, std::string> producer_properties;  // extra librdkafka producer props
  std::map<std::string, std::string> consumer_properties;  // extra librdkafka consumer props
  AclConfig acls;
};

struct HttpConfig {
  std::string bind = "127.0.0.1:9644";
  bool enabled = true;
  // File holding the bearer token the endpoints require (else env KMIRROR_HTTP_TOKEN); read
  // when the server starts, never logged. Required for a bind beyond loopback.
  std::string token_file;
};

struct Config {
  std::vector<ClusterConfig> clusters;
  std::vector<FlowConfig> flows;
  HttpConfig http;

  // The cluster called `name`; throws std::out_of_range if there is none (a loaded Config's
  // flows always name defined clusters).
  const ClusterConfig& cluster(const std::string& name) const;
};

// Loads and validates a YAML file. Throws ConfigError("<file>:<line>: <problem>; <fix>").
Config load_file(const std::string& path);
// Same from text; `origin` names it in errors.
Config load_string(const std::string& yaml, const std::string& origin = "<config>");

}  // namespace kmirror::config
