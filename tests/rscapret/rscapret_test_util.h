// Shared helpers of the RS-CapRet tests: the tiny HF backbones of ../shared/fixtures/hf and a
// synthetic 256-piece tokenizer that matches llama_tiny's vocabulary (the fixture ships none), so
// that [RET] becomes id 256 exactly as it becomes 32000 for LLaMA-2.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "models/rscapret/bundle.h"
#include "tests/common/shared_dir.h"

namespace rscapret::testing {

inline std::filesystem::path temp_dir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("rscapret_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// tokenizer.json: <unk> <s> </s>, "▁", a-z, "▁a".."▁z" (with their merges), digits, '.', then
// filler pieces up to 256 ids. Metaspace pre-tokenizer (dummy prefix, spaces as "▁").
inline std::filesystem::path write_tiny_tokenizer(const std::filesystem::path& dir) {
  const std::string sp = "\xE2\x96\x81";  // "▁"
  nlohmann::json vocab = nlohmann::json::object();
  nlohmann::json merges = nlohmann::json::array();
  int id = 0;
  for (const char* s : {"<unk>", "<s>", "</s>"}) vocab[s] = id++;
  vocab[sp] = id++;
  for (char c = 'a'; c <= 'z'; ++c) vocab[std::string(1, c)] = id++;
  for (char c = 'a'; c <= 'z'; ++c) {
    vocab[sp + std::string(1, c)] = id++;
    merges.push_back(sp + " " + std::string(1, c));
  }
  for (char c = '0'; c <= '9'; ++c) vocab[std::string(1, c)] = id++;
  vocab["."] = id++;
  for (; id < 256; ++id) vocab["<extra_" + std::to_string(id) + ">"] = id;
  nlohmann::json added = nlohmann::json::array();
  for (int i = 0; i < 3; ++i)
    added.push_back({{"id", i}, {"content", std::vector<std::string>{"<unk>", "<s>", "</s>"}[size_t(i)]},
                     {"special", true}});
  nlohmann::json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"unk_token", "<unk>"},
                                 {"byte_fallback", false}}},
                      {"added_tokens", added},
                      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", sp}, {"prepend_scheme", "first"}}}};
  const auto p = dir / "tokenizer.json";
  std::ofstream(p) << j.dump();
  return p;
}

inline bool have_tiny_backbones() {
  return std::filesystem::exists(shared_path("fixtures/hf/clip_tiny/model.safetensors")) &&
         std::filesystem::exists(shared_path("fixtures/hf/llama_tiny/model.safetensors"));
}

inline models::RsCapRetSpec tiny_spec(const std::filesystem::path& tmp, const std::string& dtype = "f32") {
  models::RsCapRetSpec s;
  s.clip_dir = shared_path("fixtures/hf/clip_tiny");
  s.llama_dir = shared_path("fixtures/hf/llama_tiny");
  s.tokenizer = write_tiny_tokenizer(tmp);
  s.backbone_dtype = dtype;
  s.options.retrieval_dim = 16;  // small Q keeps the finite-difference check short
  s.options.max_len = 16;
  return s;
}

// Random "images" for the tiny CLIP (32 px), N(0, 1) like normalised pixels.
inline Tensor random_pixels(int64_t n, uint64_t seed, DType dtype = DType::f32) {
  Generator g(seed);
  return g.normal({n, 3, 32, 32}, 0.0, 1.0, dtype);
}

inline const std::vector<std::string>& tiny_captions() {
  static const std::vector<std::string> c = {"many green trees", "a red roof", "two white planes",
                                             "a blue river", "some boats", "a big farm"};
  return c;
}

}  // namespace rscapret::testing

#define RSCAPRET_REQUIRE_TINY()            \
  do {                                     \
    RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/model.safetensors");  \
    RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors"); \
  } while (0)
