// RSCAPRET_DISABLE: the list that sets the unverified GPU paths' switches off for a run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tensor/feature_switch.h"

namespace rscapret {
namespace {

struct EnvGuard {  // restores RSCAPRET_DISABLE as the test found it
  const char* old = std::getenv("RSCAPRET_DISABLE");
  std::string saved = old ? old : "";
  ~EnvGuard() { old ? setenv("RSCAPRET_DISABLE", saved.c_str(), 1) : unsetenv("RSCAPRET_DISABLE"); }
};

TEST(FeatureSwitch, ListedNamesAreOffOthersOn) {
  EnvGuard restore;
  unsetenv("RSCAPRET_DISABLE");
  EXPECT_TRUE(feature_enabled_by_env("wgmma_kn"));
  setenv("RSCAPRET_DISABLE", "wgmma_kn, dependent_launch ,norm_single_read", 1);
  EXPECT_FALSE(feature_enabled_by_env("wgmma_kn"));
  EXPECT_FALSE(feature_enabled_by_env("dependent_launch"));  // spaces around a name are ignored
  EXPECT_FALSE(feature_enabled_by_env("norm_single_read"));
  EXPECT_TRUE(feature_enabled_by_env("bf16_handoff"));
  EXPECT_TRUE(feature_enabled_by_env("wgmma"));  // whole names only, not prefixes
  setenv("RSCAPRET_DISABLE", "", 1);
  EXPECT_TRUE(feature_enabled_by_env("wgmma_kn"));
  setenv("RSCAPRET_DISABLE", "fused_residual", 1);
  EXPECT_FALSE(feature_enabled_by_env("fused_residual"));
}

}  // namespace
}  // namespace rscapret
