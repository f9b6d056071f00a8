// How well can a text query pick its own image out of the test split, from the captions alone?
// For the images [first, first + count) of the synthetic world (the default is the test split of the
// pipeline's 2,000 images) it prints, per scene type, the share of captions no other image of the
// range has, and the exact-match ceiling of text->image R@1: a ranking that puts every image with
// the query's exact string first and breaks ties at random reaches 1/k for a string k images share.
// With --png DIR it also writes each image of one --scene, enlarged 4x, with its captions in
// DIR/captions.txt, to look at what the captions claim.
//
// Build (no CMake needed, from the repository root):
//   g++ -std=c++20 -O2 -I. tools/synth/caption_stats.cpp synth/scene*.cpp synth/render.cpp
//       synth/caption_specificity.cpp synth/png_write.cpp tensor/error.cpp -o /tmp/caption_stats
// (one command line).
// Usage: /tmp/caption_stats [--seed 0] [--first 1800] [--count 200] [--size 64] [--scene NAME --png DIR]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "synth/caption_specificity.h"
#include "synth/dataset.h"
#include "synth/scene.h"

using namespace rscapret::synth;

int main(int argc, char** argv) {
  uint64_t seed = 0, first = 1800;
  int64_t count = 200;
  int size = 64;
  std::string scene, png_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--seed") seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--first") first = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--count") count = std::strtoll(v.c_str(), nullptr, 10);
    else if (k == "--size") size = std::atoi(v.c_str());
    else if (k == "--scene") scene = v;
    else if (k == "--png") png_dir = v;
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  std::vector<Sample> samples;
  for (int64_t i = 0; i < count; ++i) samples.push_back(generate_sample(seed, first + uint64_t(i), size));
  const CaptionSpecificityReport r = caption_specificity(samples);
  std::printf("%-20s %8s %8s %10s\n", "scene", "queries", "unique", "R@1 ceil");
  auto row = [](const std::string& name, const CaptionSpecificity& a) {
    std::printf("%-20s %8d %7.1f%% %9.1f%%\n", name.c_str(), a.queries, 100 * a.unique, 100 * a.r1_ceiling);
  };
  for (const auto& [name, a] : r.per_scene) row(name, a);
  row("ALL", r.all);
  if (!png_dir.empty() && !scene.empty()) {
    std::ofstream txt(png_dir + "/captions.txt");
    for (size_t i = 0; i < samples.size(); ++i) {
      const Sample& s = samples[i];
      if (scene != scene_name(s.type)) continue;
      const int k = 4, S = s.size * k;
      std::vector<uint8_t> big(size_t(S) * S * 3);
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x)
          for (int ch = 0; ch < 3; ++ch)
            big[(size_t(y) * S + x) * 3 + ch] = s.rgb[(size_t(y / k) * s.size + x / k) * 3 + ch];
      const std::string name = std::to_string(first + i) + ".png";
      write_png(png_dir + "/" + name, big, S);
      txt << name << "\n";
      for (const auto& c : s.captions) txt << "  " << c << "   [" << r.images_with.at(c) << " image(s)]\n";
    }
  }
  return 0;
}
