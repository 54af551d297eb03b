#include "support/replication_checks.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "kafka/client.h"

namespace kmirror::testing {

using namespace std::chrono_literals;

int64_t end_offsets_sum(const std::string& bootstrap, const std::string& topic) {
  auto client = kafka::make_client(kafka::ClientKind::kProducer,
                                   {{"bootstrap.servers", bootstrap}, {"log_level", "0"}});
  auto md = kafka::fetch_metadata(client.get(), 10s, topic);
  int64_t total = 0;
  for (const auto& t : md.topics) {
    for (const auto& p : t.partitions)
      total += kafka::query_watermarks(client.get(), topic, p.id, 10s).high;
  }
  return total;
}

int64_t end_offsets_or_zero(const std::string& bootstrap, const std::string& topic) {
  try {
    return end_offsets_sum(bootstrap, topic);
  } catch (const std::exception&) {
    return 0;
  }
}

size_t count_or_zero(const std::string& bootstrap, const std::string& topic) {
  try {
    return count_records(bootstrap, topic);
  } catch (const std::exception&) {
    return 0;
  }
}

bool wait_for_records(const std::string& bootstrap, const std::string& topic, int64_t expected,
                      std::chrono::seconds timeout, std::chrono::milliseconds interval) {
  return kafka::wait_until([&] { return end_offsets_or_zero(bootstrap, topic) >= expected; },
                           timeout, interval);
}

bool wait_for_settled(const std::string& bootstrap, const std::string& topic, int64_t expected,
                      std::chrono::seconds timeout) {
  if (!wait_for_records(bootstrap, topic, expected, timeout)) return false;
  int64_t last = -1;
  int stable = 0;
  return kafka::wait_until(
      [&] {
        int64_t now = end_offsets_or_zero(bootstrap, topic);
        stable = now == last ? stable + 1 : 0;
        last = now;
        return stable >= 3;
      },
      timeout, 1s);
}

int64_t committed_sum(const std::string& bootstrap, const std::string& group,
                      const std::string& topic, int partitions) {
  auto consumer = kafka::make_client(
      kafka::ClientKind::kConsumer,
      {{"bootstrap.servers", bootstrap}, {"group.id", group}, {"log_level", "0"}});
  auto list = kafka::new_partition_list(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  kafka::check(rd_kafka_committed(consumer.get(), list.get(), 10000), "read committed offsets");
  int64_t total = 0;
  for (int i = 0; i < list->cnt; ++i) total += std::max<int64_t>(0, list->elems[i].offset);
  rd_kafka_consumer_close(consumer.get());
  return total;
}

std::optional<core::Provenance> provenance_of(const TestRecord& r) {
  std::optional<core::Provenance> out;
  for (const auto& [name, value] : r.headers) {
    if (name == core::kProvenanceHeader && value) {
      out = core::decode({reinterpret_cast<const uint8_t*>(value->data()), value->size()});
    }
  }
  return out;
}

size_t expect_complete(const Partitions& source, const Partitions& target,
                       const std::map<int32_t, size_t>& from) {
  size_t duplicates = 0;
  for (const auto& [p, src] : source) {
    auto it = target.find(p);
    if (it == target.end()) {
      ADD_FAILURE() << "partition " << p << " missing on the target";
      continue;
    }
    std::map<int64_t, const TestRecord*> by_offset;
    for (const auto& r : src) by_offset[r.offset] = &r;
    std::set<int64_t> seen;
    int64_t highest = -1;
    size_t skip = from.count(p) ? from.at(p) : 0;
    for (size_t i = skip; i < it->second.size(); ++i) {
      const TestRecord& t = it->second[i];
      auto prov = provenance_of(t);
      if (!prov) {
        ADD_FAILURE() << "target record at offset " << t.offset << " of partition " << p
                      << " has no provenance header";
        continue;
      }
      EXPECT_EQ(prov->source_partition, p);
      auto s = by_offset.find(prov->source_offset);
      if (s == by_offset.end()) {
        ADD_FAILURE() << "target record at offset " << t.offset << " of partition " << p
                      << " names unknown source offset " << prov->source_offset;
        continue;
      }
      EXPECT_TRUE(same_content(*s->second, t))
          << "partition " << p << " source offset " << prov->source_offset;
      if (!seen.insert(prov->source_offset).second) {
        ++duplicates;
      } else {
        EXPECT_GT(prov->source_offset, highest) << "order broken in partition " << p;
      }
      highest = std::max(highest, prov->source_offset);
    }
    if (seen.size() != src.size()) {
      std::vector<int64_t> missing;
      for (const auto& r : src) {
        if (!seen.count(r.offset)) missing.push_back(r.offset);
      }
      std::ostringstream m;
      m << missing.size() << " of " << src.size() << " source records missing in partition " << p
        << " (source offsets " << missing.front() << ".." << missing.back() << ")";
      ADD_FAILURE() << m.str();
    }
  }
  for (const auto& [p, recs] : target) {
    if (!source.count(p) && !recs.empty())
      ADD_FAILURE() << "target partition " << p << " holds records but the source has none";
  }
  return duplicates;
}

}  // namespace kmirror::testing
