// How specific the captions of a set of images are: text->image retrieval can only find an image
// from a caption that says something its neighbours' captions do not. For every caption used as a
// query over the set, k = the number of images that have the exact same string; a ranking that puts
// those k first and breaks ties at random finds the right one first with probability 1/k. The mean
// of 1/k over all queries is the exact-match ceiling of text->image R@1 on that set.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "synth/scene.h"

namespace rscapret::synth {

struct CaptionSpecificity {
  int queries = 0;
  double unique = 0;       // share of queries no other image of the set has
  double r1_ceiling = 0;   // mean of 1/k
};

struct CaptionSpecificityReport {
  CaptionSpecificity all;
  std::map<std::string, CaptionSpecificity> per_scene;  // by scene_name
  std::map<std::string, int> images_with;               // caption -> images of the set that have it
};

CaptionSpecificityReport caption_specificity(const std::vector<Sample>& samples);

}  // namespace rscapret::synth
