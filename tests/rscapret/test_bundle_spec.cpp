// bridge.json: backbones inside the model folder are written relative to it (a self-contained
// folder can move, as assets/ does with a fresh clone); others stay absolute.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "models/rscapret/bundle.h"

namespace rscapret::models {
namespace {

namespace fs = std::filesystem;

TEST(BundleSpec, InsidePathsAreRelativeAndSurviveAMove) {
  const fs::path base = fs::temp_directory_path() / ("rscapret_spec_" + std::to_string(::getpid()));
  fs::remove_all(base);
  const fs::path dir = base / "a" / "model";
  fs::create_directories(dir);
  RsCapRetSpec s;
  s.clip_dir = dir / "clip";
  s.llama_dir = base / "elsewhere" / "llama";
  s.options.num_visual_tokens = 3;
  write_rscapret_spec(dir, s);
  const auto j = nlohmann::json::parse(std::ifstream(dir / "bridge.json"));
  EXPECT_EQ(j["clip"], "clip");
  EXPECT_TRUE(fs::path(j["llama"].get<std::string>()).is_absolute());
  EXPECT_EQ(j["tokenizer"], "");

  fs::create_directories(base / "b");
  fs::rename(dir, base / "b" / "model");
  const RsCapRetSpec r = read_rscapret_spec(base / "b" / "model");
  EXPECT_EQ(fs::weakly_canonical(r.clip_dir), fs::weakly_canonical(base / "b" / "model" / "clip"));
  EXPECT_EQ(fs::weakly_canonical(r.llama_dir), fs::weakly_canonical(s.llama_dir));
  EXPECT_EQ(r.options.num_visual_tokens, 3);
  fs::remove_all(base);
}

TEST(BundleSpec, MalformedSpecsAreFormatErrors) {
  const fs::path dir = fs::temp_directory_path() / ("rscapret_spec_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* text : {"{not json", "[1, 2]", R"({"llama": "l"})",
                           R"({"clip": "c", "llama": "l", "backbone_dtype": 7})",
                           R"({"clip": "c", "llama": "l", "options": {"max_len": "long"}})",
                           R"({"clip": "c", "llama": "l", "options": [1]})"}) {
    std::ofstream(dir / "bridge.json") << text;
    EXPECT_THROW(read_rscapret_spec(dir), FormatError) << text;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rscapret::models
