// Helpers shared by the tokenizer tests: reading fixtures and random UTF-8.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "models/tokenizers/unicode.h"

namespace rscapret::testing {

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::vector<std::string> lines;
  std::ifstream in(p, std::ios::binary);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Random valid UTF-8 drawn from pools that stress a tokenizer: ASCII, whitespace runs, control
// characters, Latin accents, CJK, emoji (4-byte), combining marks, rare planes.
inline std::string random_utf8(std::mt19937& rng, int max_cps) {
  static const std::vector<std::pair<uint32_t, uint32_t>> pools = {
      {0x20, 0x7E},       {0x20, 0x20},       {0x09, 0x0D},     {0x00, 0x1F},
      {0xC0, 0x17F},      {0x4E00, 0x9FFF},   {0x1F300, 0x1FAFF}, {0x0300, 0x036F},
      {0x0400, 0x04FF},   {0xAC00, 0xD7A3},   {0x10000, 0x10FFFF}, {0x2580, 0x2582}};
  std::uniform_int_distribution<int> n_dist(0, max_cps), pool_dist(0, static_cast<int>(pools.size()) - 1);
  std::string s;
  const int n = n_dist(rng);
  for (int i = 0; i < n; ++i) {
    const auto [lo, hi] = pools[pool_dist(rng)];
    uint32_t cp = std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    if (cp == 0) cp = 1;  // keep NUL out: C APIs and llama.cpp stop there
    // U+2581 is SentencePiece's own space symbol: it decodes to ' ' by design, so it cannot
    // round-trip (sentencepiece behaves the same); its neighbours stay in the pool.
    if (cp == 0x2581) cp = 0x2582;
    const int run = (lo == 0x20 && hi == 0x20) ? std::uniform_int_distribution<int>(1, 12)(rng) : 1;
    for (int r = 0; r < run; ++r) rscapret::tokenizers::utf8_append(s, cp);
  }
  return s;
}

}  // namespace rscapret::testing
