#include "synth/scene_keywords.h"

#include <sstream>

namespace rscapret::synth {

namespace {

const std::vector<std::string> kKeywords[kNumSceneTypes] = {
    /* farmland */ {"farmland", "cropland"},
    /* forest */ {"forest"},
    /* river */ {"river"},
    /* beach */ {"beach"},
    /* dense_residential */ {"dense residential"},
    /* sparse_residential */ {"sparse residential"},
    /* intersection */ {"intersection", "crossroads"},
    /* freeway */ {"freeway", "highway"},
    /* parking_lot */ {"parking lot"},
    /* airport */ {"airport", "airplane", "plane"},
    /* storage_tanks */ {"storage tank"},
    /* harbor */ {"harbor", "harbour", "boat"},
    /* tennis_court */ {"tennis court"},
    /* baseball_field */ {"baseball field", "baseball diamond"},
    /* golf_course */ {"golf course"},
    /* bare_land */ {"bare land"},
    /* meadow */ {"meadow", "grassland"},
    /* chaparral */ {"chaparral"},
    /* mobile_home_park */ {"mobile home"},
};

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  std::string w;
  while (is >> w) {
    for (char& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.push_back(w);
  }
  return out;
}

bool word_matches(const std::string& w, const std::string& k) {
  return w == k || w == k + "s" || w == k + "es";
}

bool contains_phrase(const std::vector<std::string>& cap, const std::vector<std::string>& kw) {
  for (size_t i = 0; i + kw.size() <= cap.size(); ++i) {
    bool ok = true;
    for (size_t j = 0; j < kw.size() && ok; ++j) ok = word_matches(cap[i + j], kw[j]);
    if (ok) return true;
  }
  return false;
}

}  // namespace

const std::vector<std::string>& scene_keywords(SceneType t) { return kKeywords[static_cast<int>(t)]; }

bool caption_names_scene(const std::string& caption, SceneType t) {
  const auto cap = words(caption);
  for (const auto& k : scene_keywords(t))
    if (contains_phrase(cap, words(k))) return true;
  return false;
}

std::vector<SceneType> scenes_named(const std::string& caption) {
  std::vector<SceneType> out;
  for (int i = 0; i < kNumSceneTypes; ++i)
    if (caption_names_scene(caption, static_cast<SceneType>(i))) out.push_back(static_cast<SceneType>(i));
  return out;
}

}  // namespace rscapret::synth
