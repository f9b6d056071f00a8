// Locates the shared reference files (fixtures, data) for tests: RSCAPRET_SHARED (set by the test
// command, scripts/shared_dir.sh), else the build's optional RSCAPRET_DEFAULT_SHARED.
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
// Empty when no folder is known, so RSCAPRET_REQUIRE_SHARED skips.
inline std::filesystem::path shared_path(const std::string& rel) {
  const std::filesystem::path dir = shared_dir();
  return dir.empty() ? std::filesystem::path() : dir / rel;
}

}  // namespace rscapret::testing

#define RSCAPRET_REQUIRE_SHARED(rel)                                                              \
  do {                                                                                            \
    if (!std::filesystem::exists(::rscapret::testing::shared_path(rel)))                          \
      GTEST_SKIP() << "needs " << ::rscapret::testing::shared_path(rel).string()                  \
                   << " (the shared reference files; set RSCAPRET_SHARED to their folder)";       \
  } while (0)
