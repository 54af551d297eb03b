#include "config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "config/values.h"

namespace kmirror::config {
namespace {

using namespace std::chrono_literals;

// Two clusters and one flow; tests append to it or replace parts of it.
const std::string kBase = R"(clusters:
  - name: a
    bootstrap_servers: a:9092
  - name: b
    bootstrap_servers: b:9092
flows:
  - source: a
    target: b
)";

std::string error_of(const std::string& yaml) {
  try {
    load_string(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for:\n" << yaml;
  return "";
}

// Checks "<origin>:<line>: <problem>; <fix>" on one line, and the words of problem and fix.
void expect_error(const std::string& yaml, int line, const std::string& problem,
                  const std::string& fix) {
  std::string message = error_of(yaml);
  SCOPED_TRACE(message);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(message, m, std::regex(R"(test\.yaml:(\d+): ([^\n]+?); ([^\n]+))")))
      << "not '<origin>:<line>: <problem>; <fix>'";
  EXPECT_EQ(std::stoi(m[1]), line);
  EXPECT_NE(m[2].str().find(problem), std::string::npos) << "problem lacks: " << problem;
  EXPECT_NE(m[3].str().find(fix), std::string::npos) << "fix lacks: " << fix;
}

std::filesystem::path temp_file(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() /
              ("kmirror_config_test_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(ConfigTest, FullValidConfig) {
  ::setenv("KMIRROR_TEST_PASSWORD", "s3cret", 1);
  auto secret_file = temp_file("full_secret", "file-secret\n");
  std::string yaml = R"(clusters:
  - name: primary
    bootstrap_servers: "p1:9092,p2:9092"
    properties:
      security.protocol: SASL_SSL
      sasl.password: ${env:KMIRROR_TEST_PASSWORD}
      ssl.key.password: ${file:)" +
                     secret_file.string() + R"(}
      socket.keepalive.enable: true
  - name: secondary
    bootstrap_servers: s1:9092
flows:
  - source: primary
    target: secondary
    id: p2s
    topics:
      include: ["orders\\..*", payments]
      exclude: [".*-tmp"]
    naming: prefix
    start: 2026-01-02T03:04:05Z
    delivery: exactly-once
    provenance_headers: false
    forward: origin-only
    replication_factor: 3
    source_connections: 4
    sync_interval: 30s
    commit_interval: 250ms
    buffer:
      max_inflight_bytes: 128MiB
      max_inflight_records: 50000
      pause_after: 2s
    transaction:
      interval: 250ms
      max_bytes: 4MiB
    producer:
      compression.type: lz4
    consumer:
      fetch.max.bytes: 1048576
http:
  bind: 0.0.0.0:8080
  enabled: false
  token_file: /etc/kmirror/http-token
)";
  Config c = load_string(yaml, "full.yaml");
  ASSERT_EQ(c.clusters.size(), 2u);
  EXPECT_EQ(c.clusters[0].name, "primary");
  EXPECT_EQ(c.clusters[0].bootstrap_servers, "p1:9092,p2:9092");
  EXPECT_EQ(c.clusters[0].properties,
            (std::map<std::string, std::string>{{"security.protocol", "SASL_SSL"},
                                                {"sasl.password", "s3cret"},
                                                {"ssl.key.password", "file-secret"},
                                                {"socket.keepalive.enable", "true"}}));
  EXPECT_EQ(c.cluster("secondary").bootstrap_servers, "s1:9092");
  EXPECT_THROW(c.cluster("nope"), std::out_of_range);

  ASSERT_EQ(c.flows.size(), 1u);
  const FlowConfig& f = c.flows[0];
  EXPECT_EQ(f.source, "primary");
  EXPECT_EQ(f.target, "secondary");
  EXPECT_EQ(f.id, "p2s");
  EXPECT_EQ(f.topics_include, (std::vector<std::string>{"orders\\..*", "payments"}));
  EXPECT_EQ(f.topics_exclude, (std::vector<std::string>{".*-tmp"}));
  EXPECT_EQ(f.naming, NamingPolicy::kPrefix);
  EXPECT_EQ(f.start.kind, StartKind::kTimestamp);
  EXPECT_EQ(f.start.timestamp_ms, 1767323045000);
  EXPECT_EQ(f.delivery, Delivery::kExactlyOnce);
  EXPECT_FALSE(f.provenance_headers);
  EXPECT_EQ(f.forward, Forward::kOriginOnly);
  EXPECT_EQ(f.replication_factor, 3);
  EXPECT_EQ(f.source_connections, 4);
  EXPECT_EQ(f.sync_interval, 30s);
  EXPECT_EQ(f.commit_interval, 250ms);
  EXPECT_EQ(f.max_inflight_bytes, 128LL << 20);
  EXPECT_EQ(f.max_inflight_records, 50000);
  EXPECT_EQ(f.pause_after, 2s);
  EXPECT_EQ(f.transaction_interval, 250ms);
  EXPECT_EQ(f.transaction_max_bytes, 4LL << 20);
  EXPECT_EQ(f.producer_properties,
            (std::map<std::string, std::string>{{"compression.type", "lz4"}}));
  EXPECT_EQ(f.consumer_properties,
            (std::map<std::string, std::string>{{"fetch.max.bytes", "1048576"}}));
  EXPECT_EQ(c.http.bind, "0.0.0.0:8080");
  EXPECT_FALSE(c.http.enabled);
  EXPECT_EQ(c.http.token_file, "/etc/kmirror/http-token");
  std::filesystem::remove(secret_file);
}

TEST(ConfigTest, Defaults) {
  Config c = load_string(kBase);
  ASSERT_EQ(c.flows.size(), 1u);
  const FlowConfig& f = c.flows[0];
  EXPECT_EQ(f.id, "a->b");
  EXPECT_EQ(f.topics_include, std::vector<std::string>{".*"});
  EXPECT_TRUE(f.topics_exclude.empty());
  EXPECT_EQ(f.naming, NamingPolicy::kIdentity);
  EXPECT_EQ(f.start.kind, StartKind::kEarliest);
  EXPECT_EQ(f.delivery, Delivery::kAtLeastOnce);
  EXPECT_TRUE(f.provenance_headers);
  EXPECT_EQ(f.forward, Forward::kAuto);
  EXPECT_EQ(f.replication_factor, -1);
  EXPECT_EQ(f.source_connections, 0) << "auto: one, more for a far source";
  EXPECT_EQ(f.sync_interval, 10s);
  EXPECT_EQ(f.commit_interval, 1s);
  EXPECT_EQ(f.max_inflight_bytes, 16LL << 20);
  EXPECT_EQ(f.max_inflight_records, 50000);
  EXPECT_EQ(f.pause_after, 5s);
  EXPECT_TRUE(f.producer_properties.empty());
  EXPECT_TRUE(f.consumer_properties.empty());
  EXPECT_TRUE(c.clusters[0].properties.empty());
  EXPECT_EQ(c.http.bind, "127.0.0.1:9644");
  EXPECT_TRUE(c.http.enabled);
  EXPECT_TRUE(c.http.token_file.empty());
}

TEST(ConfigTest, EmptySectionsMeanDefaults) {
  Config c = load_string(kBase +
                         "    topics:\n    buffer:\n    producer:\n    consumer: {}\n"
                         "http:\n");
  EXPECT_EQ(c.flows[0].topics_include, std::vector<std::string>{".*"});
  EXPECT_EQ(c.flows[0].max_inflight_bytes, 16LL << 20);
  EXPECT_EQ(c.http.bind, "127.0.0.1:9644");
}

TEST(ConfigTest, ClientPropertiesAddBootstrapServers) {
  Config c = load_string(R"(clusters:
  - name: a
    bootstrap_servers: a:9092
    properties: {client.id: x}
  - {name: b, bootstrap_servers: b:9092}
flows: [{source: a, target: b}]
)");
  EXPECT_EQ(
      c.clusters[0].client_properties(),
      (std::map<std::string, std::string>{{"bootstrap.servers", "a:9092"}, {"client.id", "x"}}));
  EXPECT_EQ(c.clusters[1].client_properties().at("bootstrap.servers"), "b:9092");
}

TEST(ConfigTest, ExampleFileLoads) {
  ::setenv("PRIMARY_PASSWORD", "example-password", 1);
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../examples/kmirror.yaml";
  Config c = load_file(path.string());
  ASSERT_EQ(c.clusters.size(), 2u);
  ASSERT_EQ(c.flows.size(), 2u);
  EXPECT_EQ(c.clusters[0].properties.at("sasl.password"), "example-password");
  EXPECT_EQ(c.flows[0].id, "primary-to-secondary");
  EXPECT_EQ(c.flows[1].id, "secondary->primary");
  EXPECT_TRUE(c.flows[0].provenance_headers);
}

TEST(ConfigTest, LoadFileErrors) {
  try {
    load_file("/nonexistent/kmirror.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "/nonexistent/kmirror.yaml:1: cannot open the configuration file (No such file "
                 "or directory); check the path and its permissions");
  }
  auto path = temp_file("bad.yaml", kBase + "    naming: nope\n");
  try {
    load_file(path.string());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path.string() + ":9: invalid naming 'nope'", 0), 0u)
        << e.what();
  }
  std::filesystem::remove(path);
}

TEST(ConfigTest, InvalidYaml) {
  expect_error("clusters:\n  - name: a\n   bootstrap_servers: x\n", 3, "invalid YAML",
               "fix the syntax");
  expect_error("clusters: [a, b\n", 2, "invalid YAML", "fix the syntax");
  expect_error(kBase + "---\n" + kBase, 10, "more than one YAML document", "'---'");
  expect_error("", 1, "the configuration is empty", "define 'clusters' and 'flows'");
  expect_error("# only a comment\n", 1, "the configuration is empty", "'clusters'");
  // yaml-cpp reads these as an empty document (and YAML::LoadAll loops forever on them).
  expect_error(",\n", 1, "no configuration could be read", "check the YAML syntax here");
  expect_error(
      "# comment\n,clusters:\n\xd0\xdf\x91"
      "ecyp.res:rotocolvers: x\n",
      2, "no configuration could be read", "check the YAML syntax here");
  expect_error("- a\n- b\n", 1, "the configuration must be a map, found a list", "'clusters:'");
}

TEST(ConfigTest, UnknownKeys) {
  expect_error(R"(clusters:
  - name: primary
    bootstrap_server: x
flows: []
)",
               3, "unknown key 'bootstrap_server' in cluster 'primary'",
               "did you mean 'bootstrap_servers'?");
  // The exact wording, as operators will see it.
  EXPECT_EQ(error_of("clusters:\n  - name: primary\n    bootstrap_server: x\n"),
            "test.yaml:3: unknown key 'bootstrap_server' in cluster 'primary'; did you mean "
            "'bootstrap_servers'?");
  expect_error(kBase + "flow: []\n", 9, "unknown key 'flow' at the top level",
               "did you mean 'flows'?");
  expect_error(kBase + "    provenance_header: true\n", 9,
               "unknown key 'provenance_header' in flow 'a->b'",
               "did you mean 'provenance_headers'?");
  expect_error(kBase + "    topics: {includes: [x]}\n", 9,
               "unknown key 'includes' in 'topics' of flow 'a->b'", "did you mean 'include'?");
  expect_error(kBase + "    buffer:\n      max_inflight: 2MiB\n", 10,
               "unknown key 'max_inflight' in 'buffer' of flow 'a->b'",
               "allowed here are: max_inflight_bytes");
  expect_error(kBase + "    buffer:\n      max_inflight_records: 10\n", 10,
               "invalid max_inflight_records '10' in 'buffer' of flow 'a->b'",
               "use a number of records from 1000 to 10000000");
  expect_error(kBase + "    buffer:\n      pause_after: 0s\n", 10,
               "'pause_after' in 'buffer' of flow 'a->b' must be greater than 0",
               "write a whole number followed by ms, s or m");
  expect_error(kBase + "http:\n  port: 80\n", 10, "unknown key 'port' in 'http'",
               "the keys allowed here are: bind, enabled, token_file");
  // No close key: the fix lists the allowed ones.
  expect_error(kBase + "    wibble: 1\n", 9, "unknown key 'wibble'",
               "the keys allowed here are: source, target, id");
  // Keys put at the wrong level say where they belong.
  expect_error(kBase + "    include: [x]\n", 9, "unknown key 'include'",
               "put 'include' under 'topics'");
  expect_error(kBase + "    transaction:\n      max_bytes: 12\n", 10,
               "'max_bytes' in 'transaction' of flow 'a->b' is below the minimum of 1KiB",
               "use at least 1KiB");
  expect_error(kBase + "    transaction:\n      intervall: 1s\n", 10,
               "unknown key 'intervall' in 'transaction' of flow 'a->b'",
               "did you mean 'interval'?");
  expect_error(kBase + "    max_inflight_bytes: 2MiB\n", 9, "unknown key 'max_inflight_bytes'",
               "put 'max_inflight_bytes' under 'buffer'");
  expect_error(kBase + "    linger.ms: 5\n", 9, "unknown key 'linger.ms'",
               "'producer' or 'consumer'");
  expect_error("clusters:\n  - name: a\n    bootstrap_servers: x\n    security.protocol: SSL\n", 4,
               "unknown key 'security.protocol' in cluster 'a'", "go under 'properties'");
  expect_error("name: a\n", 1, "unknown key 'name' at the top level",
               "belongs to an entry of 'clusters'");
  // Duplicate keys are not silently resolved.
  expect_error(kBase + "    target: a\n", 9,
               "duplicate key 'target' in flow 'a->b' (first given at line 8)", "keep only one");
}

TEST(ConfigTest, PassThroughMapsAcceptAnyKey) {
  Config c = load_string(R"(clusters:
  - name: a
    bootstrap_servers: a:9092
    properties: {anything.goes: 1, "with space": x}
  - name: b
    bootstrap_servers: b:9092
flows:
  - source: a
    target: b
    producer: {made.up: y}
    consumer: {also.made.up: z}
)");
  EXPECT_EQ(c.clusters[0].properties.at("with space"), "x");
  EXPECT_EQ(c.flows[0].producer_properties.at("made.up"), "y");
  EXPECT_EQ(c.flows[0].consumer_properties.at("also.made.up"), "z");
}

TEST(ConfigTest, WrongTypes) {
  expect_error("clusters:\n  name: a\n", 2, "'clusters' must be a list, found a map",
               "'- name: ...'");
  expect_error("clusters:\n  - just-a-name\n", 2, "cluster #1 must be a map, found a single value",
               "'name' and 'bootstrap_servers'");
  expect_error("clusters:\n  - name: [a]\n    bootstrap_servers: x\n", 2,
               "'name' in cluster #1 must be a single value, found a list", "name the cluster");
  expect_error(kBase + "flows2: 1\n", 9, "unknown key", "flows");
  expect_error(R"(clusters:
  - name: a
    bootstrap_servers: a:9092
    properties: [x]
)",
               4, "'properties' in cluster 'a' must be a map, found a list", "'name: value'");
  expect_error(kBase + "    topics:\n      include: {a: 1}\n", 10,
               "'include' in 'topics' of flow 'a->b' must be a list, found a map", "'- item'");
  expect_error(kBase + "    topics:\n      exclude:\n        - [x]\n", 11,
               "an entry of 'exclude' in 'topics' of flow 'a->b' is a list", "single string");
  expect_error(kBase + "    provenance_headers: maybe\n", 9,
               "invalid 'provenance_headers' 'maybe' in flow 'a->b'", "true or false");
  expect_error(kBase + "http:\n  enabled: [true]\n", 10,
               "'enabled' in 'http' must be a single value", "true or false");
  expect_error(kBase + "    source: a\n", 9, "duplicate key 'source'", "keep only one");
  expect_error(kBase + "http: 8080\n", 9, "'http' must be a map, found a single value", "bind");
}

TEST(ConfigTest, MissingRequiredKeys) {
  expect_error("flows: []\n", 1, "missing required key 'clusters' at the top level",
               "add a 'clusters' list");
  expect_error("clusters:\n  - name: a\n    bootstrap_servers: x\n", 1,
               "missing required key 'flows' at the top level", "'source' and a 'target'");
  expect_error("clusters:\n  - bootstrap_servers: x\n", 2,
               "missing required key 'name' in cluster #1", "add 'name: <cluster name>'");
  expect_error("clusters:\n  - name: a\n    properties: {}\n", 2,
               "missing required key 'bootstrap_servers' in cluster 'a'", "bootstrap_servers: ");
  expect_error("clusters:\n  - name: a\n    bootstrap_servers:\n", 3,
               "'bootstrap_servers' in cluster 'a' has no value", "host:9092");
  expect_error("clusters:\n  - name: a\n    bootstrap_servers: \"x,,y\"\n", 3,
               "has an empty address", "host:port");
  expect_error(kBase + "  - target: a\n", 9, "missing required key 'source' in flow #2",
               "add 'source: <cluster name>'");
  expect_error(kBase + "  - source: b\n", 9, "missing required key 'target' in flow #2",
               "add 'target: <cluster name>'");
}

TEST(ConfigTest, EmptyLists) {
  expect_error("clusters: []\nflows: []\n", 1, "no clusters are defined",
               "add at least one entry under 'clusters'");
  expect_error("clusters:\nflows: []\n", 1, "no clusters are defined",
               "'name' and 'bootstrap_servers'");
  expect_error("clusters:\n  - name: a\n    bootstrap_servers: x\nflows: []\n", 4,
               "no flows are defined", "add at least one entry under 'flows'");
  expect_error("clusters:\n  - name: a\n    bootstrap_servers: x\nflows:\n", 4,
               "no flows are defined", "'source' and a 'target'");
  expect_error(kBase + "    topics:\n      include: []\n", 10,
               "'include' in 'topics' of flow 'a->b' is empty, so nothing would be replicated",
               "include: [\".*\"]");
}

TEST(ConfigTest, ClusterReferences) {
  expect_error(kBase + "  - source: a\n    target: c\n", 10,
               "flow 'a->c' names unknown cluster 'c' as its target",
               "use one of the defined clusters: a, b");
  expect_error(kBase + "  - source: x\n    target: b\n", 9,
               "flow 'x->b' names unknown cluster 'x' as its source", "clusters: a, b");
  expect_error(kBase + "  - source: b\n    target: b\n", 10,
               "flow 'b->b' has cluster 'b' as both its source and target",
               "replicate between two different clusters");
}

TEST(ConfigTest, DuplicateNamesAndIds) {
  expect_error(R"(clusters:
  - name: a
    bootstrap_servers: x
  - name: a
    bootstrap_servers: y
)",
               4, "duplicate cluster name 'a' (first defined at line 2)",
               "give each cluster a unique name");
  expect_error(kBase + "  - source: a\n    target: b\n", 9,
               "duplicate flow id 'a->b' (first defined at line 7)",
               "give one of the flows an explicit, distinct 'id'");
  expect_error(kBase + "    id: x\n  - source: b\n    target: a\n    id: x\n", 12,
               "duplicate flow id 'x' (first defined at line 9)", "give each flow a distinct 'id'");
  // Two flows between the same clusters are fine with distinct ids.
  Config c = load_string(kBase +
                         "    topics: {include: [x]}\n  - source: a\n    target: b\n"
                         "    id: second\n    topics: {include: [y]}\n");
  EXPECT_EQ(c.flows.size(), 2u);
}

TEST(ConfigTest, InvalidNames) {
  expect_error("clusters:\n  - name: \"a b\"\n    bootstrap_servers: x\n", 2,
               "invalid cluster name 'a b'", "letters, digits, '.', '_' or '-'");
  expect_error(kBase + "    id: \"has space\"\n", 9, "invalid flow id 'has space'",
               "without spaces");
}

TEST(ConfigTest, LoopsWithoutProvenanceAreRefused) {
  const std::string pair = kBase + "    provenance_headers: false\n  - source: b\n    target: a\n";
  expect_error(pair, 9,
               "flows 'a->b' (provenance_headers: false) and 'b->a' would replicate records back "
               "and forth forever",
               "enable provenance_headers on both flows");
  // Also when the flow with headers off comes second.
  expect_error(kBase + "  - source: b\n    target: a\n    provenance_headers: false\n", 11,
               "would replicate records back and forth forever",
               "enable provenance_headers on both flows");
  // With headers on both, active/active is fine.
  EXPECT_NO_THROW(load_string(kBase + "  - source: b\n    target: a\n"));
  // Headers off without a reverse flow is fine.
  EXPECT_NO_THROW(load_string(kBase + "    provenance_headers: false\n"));
  // Longer cycles loop too.
  expect_error(R"(clusters:
  - {name: a, bootstrap_servers: a:9092}
  - {name: b, bootstrap_servers: b:9092}
  - {name: c, bootstrap_servers: c:9092}
flows:
  - {source: a, target: b, provenance_headers: false}
  - {source: b, target: c}
  - {source: c, target: a}
)",
               6, "flow 'a->b' (provenance_headers: false) is part of the cycle a -> b -> c -> a",
               "enable provenance_headers on every flow of the cycle");
}

TEST(ConfigTest, InvalidEnums) {
  expect_error(kBase + "    naming: rename\n", 9, "invalid naming 'rename' in flow 'a->b'",
               "use one of: identity, prefix");
  expect_error(kBase + "    delivery: exactly_once\n", 9, "invalid delivery 'exactly_once'",
               "use one of: at-least-once, exactly-once");
  expect_error(kBase + "    start: beginning\n", 9, "invalid start 'beginning'",
               "earliest, latest, a UTC time like 2026-01-02T03:04:05Z or epoch milliseconds");
  expect_error(kBase + "    start: 2026-02-30T00:00:00Z\n", 9, "invalid start", "earliest, latest");
  expect_error(kBase + "    start: 2026-01-02T03:04:05+01:00\n", 9, "invalid start", "UTC time");
  expect_error(kBase + "    start: 1767323045000000\n", 9, "is after the year 9999",
               "not micro- or nanoseconds");
  expect_error(kBase + "    forward: everything\n", 9, "invalid forward 'everything'",
               "use one of: auto, all, origin-only");
  EXPECT_EQ(load_string(kBase + "    forward: all\n").flows[0].forward, Forward::kAll);
  expect_error(kBase + "    replication_factor: 0\n", 9, "invalid replication_factor '0'",
               "use -1 (the target cluster's default) or a number from 1 to 32767");
  expect_error(kBase + "    replication_factor: 32768\n", 9, "invalid replication_factor",
               "1 to 32767");
  expect_error(kBase + "    source_connections: 0\n", 9, "invalid source_connections '0'",
               "use auto, or a number of connections from 1 to 16");
  expect_error(kBase + "    source_connections: many\n", 9, "invalid source_connections",
               "use auto");
  EXPECT_EQ(load_string(kBase + "    source_connections: auto\n").flows[0].source_connections, 0);
  expect_error(kBase + "http:\n  bind: localhost\n", 10, "invalid bind address 'localhost'",
               "host:port");
  expect_error(kBase + "http:\n  bind: \"::1:80\"\n", 10, "invalid bind address", "[::1]:9644");
  expect_error(kBase + "http:\n  bind: host:99999\n", 10, "invalid bind address", "host:port");
}

TEST(ConfigTest, StartPositions) {
  auto start = [](const std::string& value) {
    return load_string(kBase + "    start: " + value + "\n").flows[0].start;
  };
  EXPECT_EQ(start("latest").kind, StartKind::kLatest);
  EXPECT_EQ(start("earliest").kind, StartKind::kEarliest);
  EXPECT_EQ(start("1700000000123").kind, StartKind::kTimestamp);
  EXPECT_EQ(start("1700000000123").timestamp_ms, 1700000000123);
  EXPECT_EQ(start("\"2026-01-02T03:04:05Z\"").timestamp_ms, 1767323045000);
  EXPECT_EQ(start("1970-01-01T00:00:00.5Z").timestamp_ms, 500);
}

TEST(ConfigTest, ValueParsers) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("10s"), 10000);
  EXPECT_EQ(parse_duration_ms("5m"), 300000);
  EXPECT_EQ(parse_duration_ms("1500"), 1500);
  EXPECT_EQ(parse_duration_ms("10 s"), 10000);
  EXPECT_EQ(parse_duration_ms("0"), 0);
  for (const char* bad : {"", "s", "-5s", "1.5s", "10h", "10S", "ten", "99999999999999999999"}) {
    EXPECT_EQ(parse_duration_ms(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(parse_duration_ms("9223372036854775807m"), std::nullopt);  // overflow

  EXPECT_EQ(parse_size_bytes("1048576"), 1 << 20);
  EXPECT_EQ(parse_size_bytes("10B"), 10);
  EXPECT_EQ(parse_size_bytes("2KiB"), 2048);
  EXPECT_EQ(parse_size_bytes("64MiB"), 64LL << 20);
  EXPECT_EQ(parse_size_bytes("1GiB"), 1LL << 30);
  EXPECT_EQ(parse_size_bytes("3KB"), 3000);
  EXPECT_EQ(parse_size_bytes("5 MB"), 5000000);
  EXPECT_EQ(parse_size_bytes("2GB"), 2000000000);
  for (const char* bad : {"", "MiB", "-1MiB", "1.5MiB", "1TiB", "1mib", "1 M"}) {
    EXPECT_EQ(parse_size_bytes(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(parse_size_bytes("9223372036854775807GiB"), std::nullopt);

  EXPECT_EQ(parse_utc_timestamp_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_utc_timestamp_ms("2000-02-29T12:00:00.123456Z"), 951825600123);
  for (const char* bad :
       {"2001-02-29T00:00:00Z", "2026-01-02 03:04:05Z", "2026-01-02T03:04:05",
        "2026-01-02T24:00:00Z", "1969-12-31T23:59:59Z", "2026-01-02T03:04:05.Z"}) {
    EXPECT_EQ(parse_utc_timestamp_ms(bad), std::nullopt) << bad;
  }

  EXPECT_EQ(edit_distance("bootstrap_server", "bootstrap_servers"), 1u);
  EXPECT_EQ(edit_distance("soruce", "source"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

TEST(ConfigTest, DurationsAndSizesInConfig) {
  Config c = load_string(kBase +
                         "    sync_interval: 2m\n    commit_interval: 1500\n"
                         "    buffer: {max_inflight_bytes: 1048576}\n");
  EXPECT_EQ(c.flows[0].sync_interval, 2min);
  EXPECT_EQ(c.flows[0].commit_interval, 1500ms);
  EXPECT_EQ(c.flows[0].max_inflight_bytes, 1 << 20);

  expect_error(kBase + "    sync_interval: 10h\n", 9,
               "invalid duration '10h' for 'sync_interval' in flow 'a->b'",
               "followed by ms, s or m");
  expect_error(kBase + "    commit_interval: 0s\n", 9,
               "'commit_interval' in flow 'a->b' must be greater than 0", "ms, s or m");
  expect_error(kBase + "    commit_interval: 1441m\n", 9, "longer than 24 hours", "at most 1440m");
  expect_error(kBase + "    buffer:\n      max_inflight_bytes: 64 megs\n", 10,
               "invalid size '64 megs' for 'max_inflight_bytes' in 'buffer' of flow 'a->b'",
               "B, KiB, MiB, GiB, KB, MB or GB");
  expect_error(kBase + "    buffer:\n      max_inflight_bytes: 1MB\n", 10,
               "below the minimum of 1MiB", "at least 1MiB");
}

TEST(ConfigTest, TopicPatterns) {
  expect_error(kBase + "    topics:\n      include:\n        - ok\n        - \"orders(\"\n", 12,
               "invalid pattern 'orders(' in 'include' in 'topics' of flow 'a->b': ",
               "ECMAScript syntax, matched against the whole topic name");
  expect_error(kBase + "    topics:\n      exclude: [\"[a-\"]\n", 10,
               "invalid pattern '[a-' in 'exclude'", "fix the pattern");
  expect_error(kBase + "    topics:\n      include: [\"" + std::string(40, '(') + "a" +
                   std::string(40, ')') + "\"]\n",
               10, "nests groups more than 32 deep", "simplify");
  expect_error(kBase + "    topics:\n      include: [\"" + std::string(3000, 'a') + "\"]\n", 10,
               "longer than 2048 characters", "split it");
  // The message includes std::regex's reason after the pattern.
  std::string message = error_of(kBase + "    topics: {include: [\"a{2,1}\"]}\n");
  EXPECT_NE(message.find("invalid pattern 'a{2,1}' in 'include' in 'topics' of flow 'a->b': "),
            std::string::npos)
      << message;
}

TEST(ConfigTest, PrefixNamingWithReservedClusterName) {
  expect_error(R"(clusters:
  - {name: kmirror, bootstrap_servers: a:9092}
  - {name: b, bootstrap_servers: b:9092}
flows:
  - source: kmirror
    target: b
    naming: prefix
)",
               7, "would name every target topic 'kmirror.<topic>'", "rename cluster 'kmirror'");
}

TEST(ConfigTest, EnvSubstitution) {
  ::setenv("KMIRROR_TEST_USER", "alice", 1);
  ::unsetenv("KMIRROR_TEST_UNSET");
  Config c = load_string(R"(clusters:
  - name: a
    bootstrap_servers: ${env:KMIRROR_TEST_USER}-kafka:9092
    properties:
      sasl.username: ${env:KMIRROR_TEST_USER}
      client.id: "pre-${env:KMIRROR_TEST_USER}-post"
      literal: "cost ${notasub} $5"
  - {name: b, bootstrap_servers: b:9092}
flows: [{source: a, target: b, producer: {client.id: "${env:KMIRROR_TEST_USER}"}}]
)");
  EXPECT_EQ(c.clusters[0].bootstrap_servers, "alice-kafka:9092");
  EXPECT_EQ(c.clusters[0].properties.at("sasl.username"), "alice");
  EXPECT_EQ(c.clusters[0].properties.at("client.id"), "pre-alice-post");
  EXPECT_EQ(c.clusters[0].properties.at("literal"), "cost ${notasub} $5");
  EXPECT_EQ(c.flows[0].producer_properties.at("client.id"), "alice");

  expect_error(R"(clusters:
  - name: a
    bootstrap_servers: a:9092
    properties:
      sasl.password: ${env:KMIRROR_TEST_UNSET}
)",
               5,
               "property 'sasl.password' of 'properties' in cluster 'a' refers to environment "
               "variable 'KMIRROR_TEST_UNSET', which is not set",
               "set it in kmirror's environment");
  expect_error(kBase + "    consumer:\n      sasl.password: ${env:KMIRROR_TEST_USER\n", 10,
               "property 'sasl.password' of 'consumer' in flow 'a->b' has an unterminated '${env:' "
               "reference",
               "close it with '}'");
  expect_error(kBase + "    consumer:\n      x: ${env:}\n", 10, "empty '${env:}' reference",
               "${env:VARIABLE_NAME}");
}

TEST(ConfigTest, FileSubstitution) {
  auto path = temp_file("secret", "line1\nline2\r\n\n");
  Config c =
      load_string(kBase + "    producer:\n      ssl.key.pem: ${file:" + path.string() + "}\n");
  EXPECT_EQ(c.flows[0].producer_properties.at("ssl.key.pem"), "line1\nline2");
  std::filesystem::remove(path);

  expect_error(kBase + "    producer:\n      ssl.key.password: ${file:/nonexistent/secret}\n", 10,
               "property 'ssl.key.password' of 'producer' in flow 'a->b' refers to file "
               "'/nonexistent/secret', which cannot be read (No such file or directory)",
               "make the file readable by kmirror");
  expect_error(kBase + "    producer:\n      x: ${file:/tmp}\n", 10, "which is not a regular file",
               "change the reference");
}

// Values of secret-looking properties must never appear in an error, whatever goes wrong.
TEST(ConfigTest, ErrorsNeverShowSecretValues) {
  const std::string secret = "hunter2-do-not-print";
  ::setenv("KMIRROR_TEST_SECRET", secret.c_str(), 1);
  const std::string cluster_start = "clusters:\n  - name: a\n    bootstrap_servers: a:9092\n";
  const std::vector<std::string> cases = {
      // A secret whose value has the wrong shape.
      cluster_start + "    properties:\n      sasl.password: [" + secret + "]\n",
      cluster_start + "    properties:\n      sasl.jaas.config: {x: " + secret + "}\n",
      // The whole map written as a string.
      cluster_start + "    properties: \"sasl.password=" + secret + "\"\n",
      cluster_start + "    properties: [\"ssl.key.password: " + secret + "\"]\n",
      // An error elsewhere in a cluster holding secrets, resolved or not.
      cluster_start + "    properties:\n      sasl.password: " + secret +
          "\n      oauth.token: ${env:KMIRROR_TEST_SECRET}\n    nope: 1\n",
      cluster_start + "    properties:\n      sasl.password: ${env:KMIRROR_TEST_SECRET}\n" +
          "      sasl.jaas.config: ${env:KMIRROR_TEST_UNSET}\n",
      cluster_start + "    properties:\n      api.secret: \"" + secret + "${env:\"\n",
      // A duplicate secret key.
      cluster_start + "    properties:\n      sasl.password: " + secret +
          "\n      sasl.password: " + secret + "x\n",
      // Broken YAML on the secret's line.
      cluster_start + "    properties:\n      sasl.password: \"" + secret + "\n     - x: [\n",
      cluster_start + "    properties:\n      sasl.password: " + secret + ": more\n",
      // Secrets in flow producer/consumer maps.
      kBase + "    producer:\n      ssl.key.password: " + secret + "\n    naming: bad\n",
      kBase + "    consumer:\n      sasl.password: {" + secret + "}\n",
  };
  for (const auto& yaml : cases) {
    std::string message = error_of(yaml);
    EXPECT_FALSE(message.empty());
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message << "\nfor:\n" << yaml;
  }
}

TEST(ConfigTest, MessagesStayOnOneLine) {
  std::string message = error_of(kBase + "    \"bad\\nkey\\u0007\": 1\n");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find("'bad\\x0akey\\x07'"), std::string::npos) << message;
}

TEST(ConfigTest, AclSync) {
  Config c = load_string(kBase);
  EXPECT_TRUE(c.flows[0].acls.enabled);
  EXPECT_FALSE(c.flows[0].acls.copy_allow_write);
  c = load_string(kBase + "    acls: {enabled: false}\n");
  EXPECT_FALSE(c.flows[0].acls.enabled);
  EXPECT_FALSE(c.flows[0].acls.copy_allow_write);
  c = load_string(kBase + "    acls:\n      copy_allow_write: true\n");
  EXPECT_TRUE(c.flows[0].acls.enabled);
  EXPECT_TRUE(c.flows[0].acls.copy_allow_write);
  c = load_string(kBase + "    acls:\n");
  EXPECT_TRUE(c.flows[0].acls.enabled);

  expect_error(kBase + "    acls: true\n", 9,
               "'acls' in flow 'a->b' must be a map, found a single value",
               "write 'acls: {enabled: true, copy_allow_write: false}'");
  expect_error(kBase + "    acls:\n      copy_allow_writes: true\n", 10,
               "unknown key 'copy_allow_writes' in 'acls' of flow 'a->b'",
               "did you mean 'copy_allow_write'?");
  expect_error(kBase + "    acls:\n      enabled: yes please\n", 10,
               "invalid 'enabled' 'yes please' in 'acls' of flow 'a->b'", "true or false");
  expect_error(kBase + "    copy_allow_write: true\n", 9, "unknown key 'copy_allow_write'",
               "put 'copy_allow_write' under 'acls'");
  expect_error(kBase + "    acls: {enabled: true}\n    acls: {}\n", 10, "duplicate key 'acls'",
               "keep only one");
}

}  // namespace
}  // namespace kmirror::config
