// Locates ../shared (reference fixtures, data) for tests. RSCAPRET_SHARED overrides the default.
// Tests that need it call RSCAPRET_REQUIRE_SHARED(path) and are skipped with a message when absent.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace rscapret::testing {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("RSCAPRET_SHARED")) return env;
  return RSCAPRET_DEFAULT_SHARED;
}

// Absolute path of a file under shared/ ("fixtures/hf/llama_tiny/config.json").
inline std::filesystem::path shared_path(const std::string& rel) { return shared_dir() / rel; }

}  // namespace rscapret::testing

#define RSCAPRET_REQUIRE_SHARED(rel)                                                              \
  do {                                                                                            \
    if (!std::filesystem::exists(::rscapret::testing::shared_path(rel)))                          \
      GTEST_SKIP() << "needs " << ::rscapret::testing::shared_path(rel).string()                  \
                   << " (the shared reference files; set RSCAPRET_SHARED to their folder)";       \
  } while (0)
