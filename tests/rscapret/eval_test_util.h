// Helpers of the eval / chat / i2t retrieval tests: a model folder with a fresh tiny bridge, a small
// Karpathy dataset of PNGs written by synth's encoder, and running the CLI.
#pragma once

#include "tests/common/run_cli.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/rscapret/bundle.h"
#include "synth/dataset.h"
#include "tests/rscapret/rscapret_test_util.h"

namespace rscapret::testing {

// A model folder (bridge.json + bridge.safetensors) of the tiny backbones with a bridge drawn from
// `seed`, loadable by load_rscapret_dir and the CLI.
// tokenizer: a tokenizer.json to use instead of tiny_spec's.
inline std::filesystem::path make_tiny_model_dir(const std::filesystem::path& dir, uint64_t seed = 7,
                                                 const std::filesystem::path& tokenizer = {}) {
  std::filesystem::create_directories(dir);
  models::RsCapRetSpec spec = tiny_spec(dir);
  if (!tokenizer.empty()) spec.tokenizer = tokenizer;
  Generator gen(seed);
  nn::Init init;
  init.gen = &gen;
  const models::RsCapRetBundle b = models::load_rscapret(spec, init);
  models::write_rscapret_spec(dir, spec);
  models::save_bridge_weights(dir / "bridge.safetensors", *b.model);
  return dir;
}

// The tiny tokenizer with the pieces a FROMAGe dialogue needs ("Q", "A", ":", "?", "\n", "▁Q", "▁A"
// at ids 67..73, in place of filler pieces), so "Q: what?\nA:" has no <unk>.
inline std::filesystem::path write_chat_tokenizer(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const auto p = write_tiny_tokenizer(dir);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(p));
  const std::string sp = "\xE2\x96\x81";
  auto& vocab = j["model"]["vocab"];
  int id = 67;
  for (const std::string& piece : std::vector<std::string>{"Q", "A", ":", "?", "\n", sp + "Q", sp + "A"}) {
    vocab.erase("<extra_" + std::to_string(id) + ">");
    vocab[piece] = id++;
  }
  j["model"]["merges"].push_back(sp + " Q");
  j["model"]["merges"].push_back(sp + " A");
  const auto out = dir / "chat_tokenizer.json";
  std::ofstream(out) << j.dump();
  return out;
}

// A w x w RGB PNG: a smooth gradient tinted by `salt`, so images differ.
inline void write_test_png(const std::filesystem::path& p, int w, int salt) {
  std::vector<uint8_t> rgb(size_t(w * w * 3));
  for (int y = 0; y < w; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        rgb[size_t((y * w + x) * 3 + c)] = uint8_t((x * 7 * (c + 1) + y * 3 * (salt + 1) + salt * 53 + c * 31) & 255);
  synth::write_png(p.string(), rgb, w);
}

// `n_test` test images with two captions each (+ one train image, + one corrupt test file at
// position `broken_at` of the test images when >= 0) in root/images, the JSON at root/data.json.
inline std::filesystem::path make_tiny_dataset(const std::filesystem::path& root, int n_test, int broken_at = -1) {
  namespace fs = std::filesystem;
  const fs::path images = root / "images";
  fs::create_directories(images);
  static const std::vector<std::string> words = {"many green trees", "a red roof",   "two white planes",
                                                 "a blue river",     "some boats",   "a big farm",
                                                 "a dense city",     "a long bridge", "an empty field"};
  nlohmann::json ds = {{"dataset", "tiny"}, {"images", nlohmann::json::array()}};
  int id = 0;
  for (int i = 0; i < n_test; ++i) {
    std::string name = "t" + std::to_string(i) + ".png";
    if (i == broken_at) {
      name = "broken.png";
      std::ofstream(images / name) << "not a png";
    } else {
      write_test_png(images / name, 32 + 8 * (i % 3), i);
    }
    ds["images"].push_back({{"filename", name}, {"split", "test"}, {"imgid", id++},
                            {"sentences", {{{"raw", words[size_t(i) % words.size()] + " ."}},
                                           {{"raw", "there is " + words[size_t(i + 4) % words.size()]}}}}});
  }
  write_test_png(images / "train0.png", 32, 99);
  ds["images"].push_back({{"filename", "train0.png"}, {"split", "train"}, {"imgid", id++},
                          {"sentences", {{{"raw", "a train image"}}}}});
  std::ofstream(root / "data.json") << ds.dump();
  return root / "data.json";
}

// Runs the built program; (exit status, stdout + stderr).
inline std::pair<int, std::string> run_cli(const std::string& args, const std::string& stdin_text = "") {
  if (stdin_text.empty()) return run_rscapret(args);
  const std::string in_file =
      (std::filesystem::temp_directory_path() / ("rscapret_stdin_" + std::to_string(::getpid()))).string();
  std::ofstream(in_file) << stdin_text;
  auto r = run_rscapret(args + " < " + in_file);
  std::filesystem::remove(in_file);
  return r;
}

inline bool have_cli() { return std::filesystem::exists(std::filesystem::path(RSCAPRET_BINARY_DIR) / "app/rscapret"); }

}  // namespace rscapret::testing
