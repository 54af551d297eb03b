// Who may reach kmirror's HTTP endpoints: loopback binds need no token, any other bind does.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "config/config.h"
#include "observe/http_server.h"

namespace kmirror::observe {
namespace {

TEST(HttpAccessTest, LoopbackBinds) {
  for (const char* bind : {"127.0.0.1:9644", "127.1.2.3:0", "localhost:9644", "[::1]:9644"}) {
    EXPECT_TRUE(is_loopback_bind(bind)) << bind;
  }
  for (const char* bind : {"0.0.0.0:9644", "10.0.0.5:9644", "[::]:9644", "128.0.0.1:9644",
                           "127.example.com:9644", "kmirror.local:9644", "[::ffff:10.0.0.1]:1"}) {
    EXPECT_FALSE(is_loopback_bind(bind)) << bind;
  }
}

TEST(HttpAccessTest, DefaultBindIsLoopbackAndNeedsNoToken) {
  ::unsetenv(kTokenEnv);
  config::HttpConfig http;
  EXPECT_EQ(http.bind, "127.0.0.1:9644");
  EXPECT_FALSE(resolve_token(http).has_value());
}

TEST(HttpAccessTest, BeyondLoopbackWithoutATokenIsRefused) {
  ::unsetenv(kTokenEnv);
  config::HttpConfig http;
  http.bind = "0.0.0.0:9644";
  try {
    resolve_token(http);
    FAIL() << "no error";
  } catch (const config::ConfigError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("http.bind 0.0.0.0:9644"), std::string::npos) << message;
    EXPECT_NE(message.find("http.token_file"), std::string::npos) << message;
    EXPECT_NE(message.find(kTokenEnv), std::string::npos) << message;
  }
  ::setenv(kTokenEnv, "a-token-from-the-environment", 1);
  EXPECT_EQ(resolve_token(http), "a-token-from-the-environment");
  ::unsetenv(kTokenEnv);
}

}  // namespace
}  // namespace kmirror::observe
