// The synthetic dataset on disk: DIR/images/NNNNNN.png and DIR/dataset_synth.json in the Karpathy
// format of the UCM-Captions release (images[].filename, imgid, split, sentids, sentences[].raw/tokens/
// imgid/sentid), plus per image the ground truth "scene" and "objects" for evaluation scripts.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "synth/scene.h"

namespace rscapret::synth {

struct SynthOptions {
  std::string out;                          // output directory
  int64_t count = 2000;                     // images
  int size = 128;                           // pixels per side, 64..256
  uint64_t seed = 0;
  std::array<double, 3> split{0.8, 0.1, 0.1};  // train, val, test fractions
  int threads = 0;                          // 0: hardware concurrency
};

// "0.8,0.1,0.1" -> {0.8, 0.1, 0.1}; throws ValueError unless three non-negative numbers summing to 1.
std::array<double, 3> parse_split(const std::string& text);
// Throws ValueError with a clear message for out-of-range options.
void validate(const SynthOptions& o);

// Images [first, first + count) made on `threads` threads; identical for any thread count.
std::vector<Sample> generate_batch(uint64_t seed, uint64_t first, int64_t count, int size, int threads);
// xxHash64 of pixels, scene types and captions: the determinism fingerprint of a batch.
uint64_t hash_samples(const std::vector<Sample>& samples);

// "train"/"val"/"test" for image i of n: contiguous id ranges, balanced over scene types because
// types cycle with the id.
std::vector<std::string> assign_splits(int64_t count, const std::array<double, 3>& split);
std::string image_filename(int64_t index);  // "000042.png"
// One Karpathy "images" entry (sentids start at first_sentid = 5 * index).
nlohmann::json image_entry(const Sample& s, int64_t index, const std::string& split);

void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int size);

struct SynthReport {
  int64_t images = 0;
  double seconds = 0;
  std::array<int64_t, 3> per_split{0, 0, 0};
};
// Generates and writes everything; images are written by the worker threads as they are made.
SynthReport write_dataset(const SynthOptions& o);

}  // namespace rscapret::synth
