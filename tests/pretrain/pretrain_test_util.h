// Helpers of the pretraining tests: a byte-level CLIP tokenizer (vocab.json + merges.txt with a few
// merges, so any text encodes), tiny model configs, and a handful of synthetic aerial images.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/tokenizers/clip_tokenizer.h"
#include "synth/scene.h"
#include "tests/rscapret/rscapret_test_util.h"
#include "train/clip/clip_trainer.h"
#include "train/data/clip_preprocess.h"

namespace rscapret::testing {

inline std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// 256 byte symbols, 256 byte+"</w>" symbols, merges of a few letter pairs, then <|startoftext|>
// and <|endoftext|> (the last id, as in CLIP).
inline std::filesystem::path write_tiny_clip_tokenizer(const std::filesystem::path& dir) {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) vocab[utf8_of(tokenizers::clip_byte_to_unicode(uint8_t(b)))] = id++;
  for (int b = 0; b < 256; ++b) vocab[utf8_of(tokenizers::clip_byte_to_unicode(uint8_t(b))) + "</w>"] = id++;
  std::string merges = "#version: 0.2\n";
  for (const char* m : {"e s</w>", "t h", "th e</w>", "a n", "r e"}) {
    merges += std::string(m) + "\n";
    std::string joined = m;
    joined.erase(joined.find(' '), 1);
    vocab[joined] = id++;
  }
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  std::ofstream(dir / "merges.txt") << merges;
  std::ofstream(dir / "vocab.json") << vocab.dump();
  return dir / "vocab.json";
}

// A few synthetic aerial scenes (distinct types), preprocessed at `size`, with their captions.
inline train::ImageCaptionSet synth_pairs(int n, int size) {
  train::ImageCaptionSet set;
  std::vector<Tensor> imgs;
  data::ClipPreprocessOptions opt;
  opt.size = size;
  for (int i = 0; i < n; ++i) {
    const synth::Sample s = synth::generate_sample(7, uint64_t(i), 64);
    data::Image im(s.size, s.size);
    im.pixels = s.rgb;
    imgs.push_back(data::clip_preprocess(im, opt));
    set.captions.push_back(s.captions);
  }
  set.pixels = data::stack_images(imgs);  // [n, 3, size, size]
  return set;
}

inline train::ClipModelOptions tiny_clip_options() {
  train::ClipModelOptions o;
  o.image_size = 16;
  o.patch = 8;
  o.vision_width = 32;
  o.vision_layers = 1;
  o.text_width = 32;
  o.text_layers = 1;
  o.heads = 2;
  o.projection_dim = 16;
  o.max_text_len = 77;
  return o;
}

}  // namespace rscapret::testing
