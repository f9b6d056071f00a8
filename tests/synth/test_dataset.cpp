// The dataset on disk: Karpathy JSON that loads back with the expected fields, PNGs, splits; bad
// arguments rejected with clear messages.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "synth/dataset.h"
#include "synth/scene_keywords.h"
#include "tensor/error.h"

namespace rscapret::synth {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("rscapret_synth_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

TEST(Dataset, WritesKarpathyJsonAndPngs) {
  const fs::path dir = temp_dir("write");
  SynthOptions o;
  o.out = dir.string();
  o.count = 3 * kNumSceneTypes + 5;
  o.size = 64;
  o.seed = 5;
  o.threads = 2;
  const SynthReport r = write_dataset(o);
  EXPECT_EQ(r.images, o.count);
  std::ifstream f(dir / "dataset_synth.json");
  ASSERT_TRUE(f.good());
  const nlohmann::json doc = nlohmann::json::parse(f);
  EXPECT_EQ(doc["dataset"], "synth");
  ASSERT_EQ(doc["images"].size(), static_cast<size_t>(o.count));
  std::map<std::string, int> per_split;
  std::set<int64_t> sentids;
  for (size_t i = 0; i < doc["images"].size(); ++i) {
    const auto& im = doc["images"][i];
    EXPECT_EQ(im["imgid"], static_cast<int64_t>(i));
    const std::string fn = im["filename"];
    ASSERT_TRUE(fs::exists(dir / "images" / fn)) << fn;
    std::ifstream png(dir / "images" / fn, std::ios::binary);
    char sig[8] = {};
    png.read(sig, 8);
    EXPECT_EQ(std::string(sig + 1, 3), "PNG");
    ++per_split[im["split"].get<std::string>()];
    const SceneType t = scene_from_name(im["scene"]);
    EXPECT_TRUE(im["objects"].is_array() && !im["objects"].empty());
    for (const auto& obj : im["objects"]) {
      EXPECT_TRUE(obj.contains("kind") && obj.contains("count") && obj.contains("x") && obj.contains("y"));
    }
    ASSERT_EQ(im["sentences"].size(), 5u);
    ASSERT_EQ(im["sentids"].size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      const auto& s = im["sentences"][k];
      EXPECT_EQ(s["imgid"], im["imgid"]);
      EXPECT_EQ(s["sentid"], im["sentids"][k]);
      EXPECT_TRUE(sentids.insert(s["sentid"].get<int64_t>()).second);
      const std::string raw = s["raw"];
      EXPECT_TRUE(caption_names_scene(raw, t)) << raw;
      std::string joined;
      for (const auto& tok : s["tokens"]) joined += tok.get<std::string>() + " ";
      EXPECT_EQ(joined + ".", raw) << "tokens are the words of raw without the final period";
    }
  }
  EXPECT_EQ(per_split["train"] + per_split["val"] + per_split["test"], o.count);
  EXPECT_EQ(per_split["train"], r.per_split[0]);
  EXPECT_GT(per_split["val"], 0);
  EXPECT_GT(per_split["test"], 0);
  // Rewriting with more threads gives the same JSON.
  const fs::path dir2 = temp_dir("write2");
  o.out = dir2.string();
  o.threads = 1;
  write_dataset(o);
  std::ifstream a(dir / "dataset_synth.json"), b(dir2 / "dataset_synth.json");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
  fs::remove_all(dir);
  fs::remove_all(dir2);
}

TEST(Dataset, SplitsAreStratified) {
  const auto s = assign_splits(100 * kNumSceneTypes, {0.8, 0.1, 0.1});
  std::map<std::string, int> n;
  std::map<std::string, std::map<int, int>> per_type;
  for (size_t i = 0; i < s.size(); ++i) {
    ++n[s[i]];
    ++per_type[s[i]][static_cast<int>(scene_of_index(i))];
  }
  for (int k = 0; k < kNumSceneTypes; ++k) {
    EXPECT_EQ(per_type["train"][k], 80);
    EXPECT_EQ(per_type["val"][k], 10);
    EXPECT_EQ(per_type["test"][k], 10);
  }
  EXPECT_EQ(n["train"], 80 * kNumSceneTypes);
  EXPECT_EQ(n["val"], 10 * kNumSceneTypes);
  EXPECT_EQ(n["test"], 10 * kNumSceneTypes);
}

void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Dataset, BadArgumentsGiveClearErrors) {
  EXPECT_EQ(parse_split("0.7,0.2,0.1")[1], 0.2);
  expect_error([] { parse_split("0.5,0.5"); }, "three fractions");
  expect_error([] { parse_split("0.5,0.3,0.1,0.1"); }, "three fractions");
  expect_error([] { parse_split("a,b,c"); }, "not a non-negative number");
  expect_error([] { parse_split("0.9,-0.1,0.2"); }, "not a non-negative number");
  expect_error([] { parse_split("0.5,0.5,0.5"); }, "sum to 1");
  SynthOptions o;
  o.out = "/tmp/never_written";
  o.size = 32;
  expect_error([&] { validate(o); }, "--size must be in 64..256");
  o.size = 300;
  expect_error([&] { validate(o); }, "--size");
  o.size = 64;
  o.count = 0;
  expect_error([&] { validate(o); }, "--count");
  o.count = 10;
  o.out = "";
  expect_error([&] { validate(o); }, "--out");
}

}  // namespace
}  // namespace rscapret::synth
