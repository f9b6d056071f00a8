// The synthetic aerial world: scene types, their ground-truth objects and five captions per image.
// generate_sample(seed, index, size) is a pure function: image `index` depends only on
// (seed, index, size), so any thread may make any image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rscapret::synth {

// Inspired by the 21 UCM classes. Keep names stable: they are the "scene" field of the dataset JSON
// and the keys of the keyword map in scene_keywords.h.
enum class SceneType : int {
  farmland, forest, river, beach, dense_residential, sparse_residential, intersection, freeway,
  parking_lot, airport, storage_tanks, harbor, tennis_court, baseball_field, golf_course,
  bare_land, meadow, chaparral, mobile_home_park,
};
inline constexpr int kNumSceneTypes = 19;

const char* scene_name(SceneType t);
// Throws ValueError for an unknown name.
SceneType scene_from_name(const std::string& name);

// One ground-truth object or a group of identical ones (count > 1, e.g. the trees of a forest).
// x, y: centre in image coordinates, 0..1, y down. color and size are the words captions use
// ("" when not said); counts in captions refer to these.
struct Object {
  std::string kind;   // singular noun: "storage tank", "airplane", "tree", ...
  std::string color;  // "white", "dark green", ...
  std::string size;   // "large", "small" or ""
  int count = 1;
  float x = 0.5f, y = 0.5f;
};

struct Sample {
  int size = 0;                  // image is size x size
  std::vector<uint8_t> rgb;      // size*size*3, row-major
  SceneType type{};
  std::vector<Object> objects;
  std::vector<std::string> captions;  // five distinct, lowercase, "... ." style
};

// Longest caption in words (the final " ." not counted): with one token a word, BOS and [RET] it
// fits the bridge's default 24 tokens, and it stays near UCM's 10-12 words a caption.
inline constexpr int kMaxCaptionWords = 18;

Sample generate_sample(uint64_t seed, uint64_t index, int size);
// The scene type of image `index` (balanced: cycles through all types).
SceneType scene_of_index(uint64_t index);

// Counts objects of `kind` whose colour contains every word in `colors` and whose size matches
// `size` ("" = any). Used by captions and by their tests.
int count_objects(const std::vector<Object>& objs, const std::string& kind,
                  const std::vector<std::string>& colors = {}, const std::string& size = "");

}  // namespace rscapret::synth
