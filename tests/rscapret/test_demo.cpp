// The README's main command on the committed embedded model: assets/ matches its manifest, `rscapret
// demo` runs end to end, and demo.html renders in a headless browser (Debian's chromium; skipped
// when it is not installed).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#include "models/rscapret/manifest.h"
#include "tests/common/run_cli.h"

namespace {

namespace fs = std::filesystem;
const fs::path kAssets = fs::path(RSCAPRET_SOURCE_DIR) / "assets";

const auto sh = rscapret::testing::run_shell;

std::string find_chromium() {
  for (const char* c : {"chromium", "chromium-browser", "google-chrome"})
    if (sh(std::string("command -v ") + c).first == 0) return c;
  return "";
}

TEST(EmbeddedModel, AssetsMatchTheirManifest) {
  ASSERT_TRUE(fs::exists(kAssets / rscapret::models::kManifestName)) << "the embedded model is committed in assets/";
  const auto check = rscapret::models::verify_manifest(kAssets);
  EXPECT_TRUE(check.ok()) << check.describe();
  EXPECT_TRUE(check.unlisted.empty()) << check.describe();
  // The budget: weights and samples together at most 20 MB.
  uintmax_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(kAssets))
    if (e.is_regular_file()) bytes += e.file_size();
  EXPECT_LE(bytes, 20u * 1000 * 1000);
}

TEST(EmbeddedModel, DemoRunsEndToEndAndRendersInAHeadlessBrowser) {
  const fs::path exe = fs::path(RSCAPRET_BINARY_DIR) / "app" / "rscapret";
  if (!fs::exists(exe)) GTEST_SKIP() << "needs " << exe.string() << " (build the rscapret target)";
  const fs::path tmp = fs::temp_directory_path() / ("rscapret_demo_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const fs::path html = tmp / "demo.html";
  const auto [rc, out] = sh(exe.string() + " demo --html " + html.string());
  ASSERT_EQ(rc, 0) << out;
  for (const char* want : {"== Captions", "== Text -> image retrieval", "== Chat about", "A: ", "wrote "})
    EXPECT_NE(out.find(want), std::string::npos) << want << " in\n" << out;
  std::stringstream page;
  page << std::ifstream(html).rdbuf();
  EXPECT_NE(page.str().find("data:image/png;base64,"), std::string::npos);
  for (const char* id : {"id=\"captions\"", "id=\"retrieval\"", "id=\"chat\""})
    EXPECT_NE(page.str().find(id), std::string::npos) << id;

  const std::string browser = find_chromium();
  if (browser.empty()) {
    fs::remove_all(tmp);
    GTEST_SKIP() << "no chromium: demo.html was checked as text only (apt-get install chromium to render it)";
  }
  const fs::path png = tmp / "demo.png";
  const auto [brc, bout] = sh("timeout 120 " + browser + " --headless --no-sandbox --disable-gpu --hide-scrollbars " +
                              "--user-data-dir=" + (tmp / "profile").string() + " --window-size=1200,1600 --screenshot=" +
                              png.string() + " file://" + html.string());
  ASSERT_EQ(brc, 0) << bout;
  ASSERT_TRUE(fs::exists(png)) << bout;
  // A rendered page, not an error page: a PNG well above a blank screenshot's size.
  std::ifstream f(png, std::ios::binary);
  char sig[8];
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_GT(fs::file_size(png), 20000u) << "the screenshot looks blank";
  fs::remove_all(tmp);
}

}  // namespace
