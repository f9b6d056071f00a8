#include "synth/caption_specificity.h"

namespace rscapret::synth {

CaptionSpecificityReport caption_specificity(const std::vector<Sample>& samples) {
  CaptionSpecificityReport r;
  for (const auto& s : samples)
    for (const auto& c : s.captions) ++r.images_with[c];
  for (const auto& s : samples)
    for (const auto& c : s.captions) {
      const int k = r.images_with[c];
      for (CaptionSpecificity* a : {&r.per_scene[scene_name(s.type)], &r.all}) {
        ++a->queries;
        a->unique += k == 1;
        a->r1_ceiling += 1.0 / k;
      }
    }
  auto mean = [](CaptionSpecificity& a) {
    if (a.queries == 0) return;
    a.unique /= a.queries;
    a.r1_ceiling /= a.queries;
  };
  mean(r.all);
  for (auto& [name, a] : r.per_scene) mean(a);
  return r;
}

}  // namespace rscapret::synth
