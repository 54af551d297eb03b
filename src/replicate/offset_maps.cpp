#include "replicate/offset_maps.h"

#include <spdlog/spdlog.h>

#include <functional>

#include "kafka/admin.h"
#include "kafka/reader.h"

namespace kmirror::replicate {

using namespace std::chrono_literals;

OffsetMaps::OffsetMaps(kafka::Properties target, std::string flow_id, core::ClusterHash source,
                       core::ClusterHash target_hash)
    : target_props_(std::move(target)),
      flow_id_(std::move(flow_id)),
      source_hash_(source),
      target_hash_(target_hash) {
  auto p = target_props_;
  p["enable.idempotence"] = "true";
  p["acks"] = "all";
  p["linger.ms"] = "50";
  producer_ = kafka::make_client(kafka::ClientKind::kProducer, p);
}

std::string OffsetMaps::record_key(const Key& key) const {
  return flow_id_ + "\n" + key.first + "\n" + std::to_string(key.second);
}

void OffsetMaps::load(std::chrono::milliseconds timeout) {
  kafka::Admin admin(producer_.get(), timeout);
  auto md = kafka::fetch_metadata(producer_.get(), timeout, kOffsetMapsTopic);
  if (md.topics.empty()) {
    auto res = admin.create_topics(
        {kafka::NewTopic{kOffsetMapsTopic,
                         6,
                         -1,
                         {{"cleanup.policy", "compact"}, {"min.compaction.lag.ms", "60000"}}}});
    if (!res.empty() && res[0].code != RD_KAFKA_RESP_ERR_NO_ERROR &&
        res[0].code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      spdlog::warn(
          "cannot create {} on the target ({}); offset maps are rebuilt from provenance headers "
          "instead",
          kOffsetMapsTopic, res[0].error);
    }
    return;
  }
  const std::string prefix = flow_id_ + "\n";
  size_t loaded = 0;
  for (const auto& part : md.topics.front().partitions) {
    // Just created (by this or another flow): leaders may not be elected yet.
    kafka::Watermarks w;
    bool ok = kafka::wait_until(
        [&] {
          try {
            w = kafka::query_watermarks(producer_.get(), kOffsetMapsTopic, part.id, 5s);
            return true;
          } catch (const kafka::KafkaError&) {
            return false;
          }
        },
        timeout, 250ms);
    if (!ok)
      throw std::runtime_error(std::string("cannot read ") + kOffsetMapsTopic + " on the target");
    kafka::read_range(
        target_props_, kOffsetMapsTopic, part.id, w.low, w.high, timeout,
        [&](const rd_kafka_message_t* m) {
          std::string key(static_cast<const char*>(m->key), m->key_len);
          if (key.rfind(prefix, 0) != 0) return;
          auto nl = key.rfind('\n');
          Key k{key.substr(prefix.size(), nl - prefix.size()), std::stoi(key.substr(nl + 1))};
          std::lock_guard lk(mu_);
          if (m->payload == nullptr) {
            maps_.erase(k);
            return;
          }
          if (auto map =
                  core::OffsetMap::decode({static_cast<const uint8_t*>(m->payload), m->len})) {
            maps_[k] = std::move(*map);
            ++loaded;
          }
        });
  }
  spdlog::info("flow {}: loaded {} offset map record(s) from {}", flow_id_, loaded,
               kOffsetMapsTopic);
}

void OffsetMaps::restart(const std::string& topic, int32_t partition) {
  std::lock_guard lk(mu_);
  Key key{topic, partition};
  maps_[key] = core::OffsetMap{};
  dirty_[key] = true;
}

std::optional<int64_t> OffsetMaps::catch_up(const std::string& topic, int32_t partition,
                                            std::chrono::milliseconds timeout, int64_t floor,
                                            std::optional<kafka::Watermarks> known) {
  Key key{topic, partition};
  auto w = known ? *known : kafka::query_watermarks(producer_.get(), topic, partition, timeout);
  int64_t from;
  {
    std::lock_guard lk(mu_);
    auto it = maps_.find(key);
    auto last = it == maps_.end() ? std::nullopt : it->second.last_target();
    // A map reaching the partition's end or beyond describes another incarnation of the
    // target topic (deleted and created again, its stored positions gone with it): trusting
    // it would take copies that are no longer there for copied.
    if (last && (last->value < floor || last->value >= w.high)) {
      it->second = core::OffsetMap{};
      dirty_[key] = true;
      last.reset();
    }
    from = last ? last->value + 1 : floor;
  }
  if (from < w.low) from = w.low;
  size_t found = 0;
  bool complete = kafka::read_range(
      target_props_, topic, partition, from, w.high, timeout, [&](const rd_kafka_message_t* m) {
        auto prov = kafka::provenance_of(m);
        // Only this flow's copies: last written here, by a hop from our source.
        if (!prov || prov->visited.size() < 2 || prov->visited.back() != target_hash_ ||
            prov->visited[prov->visited.size() - 2] != source_hash_ ||
            prov->source_partition != partition) {
          return;
        }
        record(topic, partition, prov->source_offset, m->offset);
        ++found;
      });
  if (!complete) {
    throw std::runtime_error("reading " + topic + "[" + std::to_string(partition) +
                             "] on the target to rebuild its offset map timed out");
  }
  if (found > 0) {
    spdlog::info("flow {}: recovered {} copied record(s) of {}[{}] from provenance headers",
                 flow_id_, found, topic, partition);
  }
  std::lock_guard lk(mu_);
  auto it = maps_.find(key);
  if (it == maps_.end()) return std::nullopt;
  auto last = it->second.last_source();
  return last ? std::optional<int64_t>(last->value) : std::nullopt;
}

void OffsetMaps::record(const std::string& topic, int32_t partition, int64_t source_offset,
                        int64_t target_offset) {
  record_all({{&topic, partition, source_offset, target_offset}});
}

void OffsetMaps::record_all(const std::vector<Copy>& copies) {
  std::lock_guard lk(mu_);
  const Copy* run = nullptr;  // the first copy of the current partition's run
  core::OffsetMap* map = nullptr;
  bool* dirty = nullptr;
  for (const Copy& c : copies) {
    if (run == nullptr || c.partition != run->partition || *c.topic != *run->topic) {
      run = &c;
      Key key{*c.topic, c.partition};
      map = &maps_[key];
      dirty = &dirty_[key];
    }
    if (map->record(core::SourceOffset{c.source_offset}, core::TargetOffset{c.target_offset}) ==
        core::OffsetMap::Recorded::kAppended) {
      *dirty = true;
    }
  }
}

core::Translation OffsetMaps::lookup(const std::string& topic, int32_t partition,
                                     int64_t source_offset) {
  std::lock_guard lk(mu_);
  auto it = maps_.find({topic, partition});
  if (it == maps_.end()) return {};
  return it->second.lookup(core::SourceOffset{source_offset});
}

std::optional<int64_t> OffsetMaps::reverse_lookup(const std::string& topic, int32_t partition,
                                                  int64_t target_offset) {
  std::lock_guard lk(mu_);
  auto it = maps_.find({topic, partition});
  if (it == maps_.end()) return std::nullopt;
  auto s = it->second.reverse_translate(core::TargetOffset{target_offset});
  return s ? std::optional<int64_t>(s->value) : std::nullopt;
}

std::optional<std::pair<int64_t, int64_t>> OffsetMaps::last_recorded(const std::string& topic,
                                                                     int32_t partition) {
  std::lock_guard lk(mu_);
  auto it = maps_.find({topic, partition});
  if (it == maps_.end()) return std::nullopt;
  auto s = it->second.last_source();
  auto t = it->second.last_target();
  if (!s || !t) return std::nullopt;
  return std::make_pair(s->value, t->value);
}

std::optional<int64_t> OffsetMaps::first_recorded(const std::string& topic, int32_t partition) {
  std::lock_guard lk(mu_);
  auto it = maps_.find({topic, partition});
  if (it == maps_.end()) return std::nullopt;
  auto first = it->second.floor();
  return first ? std::optional<int64_t>(first->value) : std::nullopt;
}

bool OffsetMaps::recorded(const std::string& topic, int32_t partition, int64_t source_offset) {
  std::lock_guard lk(mu_);
  auto it = maps_.find({topic, partition});
  if (it == maps_.end()) return false;
  // Target offsets strictly increase, so o has a copy iff o and o+1 translate differently.
  auto at = it->second.lookup(core::SourceOffset{source_offset});
  auto next = it->second.lookup(core::SourceOffset{source_offset + 1});
  return at.exact() && at.target != next.target;
}

void OffsetMaps::persist(const std::map<Key, int64_t>& source_low) {
  std::vector<std::pair<std::string, std::string>> out;
  {
    std::lock_guard lk(mu_);
    for (auto& [key, map] : maps_) {
      if (auto low = source_low.find(key); low != source_low.end()) {
        auto before = map.segments();
        map.trim_before(core::SourceOffset{low->second});
        if (map.segments() != before) dirty_[key] = true;
      }
      if (!dirty_[key]) continue;
      dirty_[key] = false;
      out.emplace_back(record_key(key), map.encode());
    }
  }
  for (const auto& [key, value] : out) {
    rd_kafka_producev(producer_.get(), RD_KAFKA_V_TOPIC(kOffsetMapsTopic),
                      RD_KAFKA_V_KEY(key.data(), key.size()),
                      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  }
  rd_kafka_poll(producer_.get(), 0);
}

void OffsetMaps::flush(std::chrono::milliseconds timeout) {
  rd_kafka_flush(producer_.get(), static_cast<int>(timeout.count()));
}

}  // namespace kmirror::replicate
