// Which words name which scene type, for checking that a caption (the generator's or a model's)
// names the right scene. tools/synth/scene_accuracy.py holds the same map; keep them in step.
// A keyword is a phrase of whole words; a caption word matches a keyword word when equal or equal
// plus a plural "s"/"es" ("storage tanks" matches "storage tank").
#pragma once

#include <string>
#include <vector>

#include "synth/scene.h"

namespace rscapret::synth {

const std::vector<std::string>& scene_keywords(SceneType t);
// True when `caption` contains a keyword of `t`.
bool caption_names_scene(const std::string& caption, SceneType t);
// Every scene type the caption names (often one; empty when none).
std::vector<SceneType> scenes_named(const std::string& caption);

}  // namespace rscapret::synth
