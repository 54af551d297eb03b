// kafka::provenance_in: the one reading of the provenance header from a record's headers,
// used by the copy path, resume, failover and the offset maps.
#include <gtest/gtest.h>

#include <string>

#include "core/provenance.h"
#include "kafka/reader.h"

namespace {

using kmirror::core::kProvenanceHeader;

struct Headers {
  rd_kafka_headers_t* h = rd_kafka_headers_new(2);
  ~Headers() { rd_kafka_headers_destroy(h); }
  void add(std::string_view name, const std::string& value) {
    rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        value.size());
  }
};

TEST(ProvenanceInHeaders, NoHeadersNoProvenance) {
  EXPECT_FALSE(kmirror::kafka::provenance_in(nullptr).has_value());
  Headers other;
  other.add("trace-id", "abc");
  EXPECT_FALSE(kmirror::kafka::provenance_in(other.h).has_value());
}

TEST(ProvenanceInHeaders, DecodesTheLastProvenanceHeader) {
  auto older = kmirror::core::next_hop(std::nullopt, 1, 2, 0, 5);
  auto newer = kmirror::core::next_hop(std::nullopt, 3, 4, 1, 9);
  Headers h;
  h.add(kProvenanceHeader, kmirror::core::encode(older));
  h.add("trace-id", "abc");
  h.add(kProvenanceHeader, kmirror::core::encode(newer));
  auto got = kmirror::kafka::provenance_in(h.h);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, newer);
}

TEST(ProvenanceInHeaders, MalformedHeaderIsAbsent) {
  Headers h;
  h.add(kProvenanceHeader, "\x07garbage");
  EXPECT_FALSE(kmirror::kafka::provenance_in(h.h).has_value());
}

}  // namespace
