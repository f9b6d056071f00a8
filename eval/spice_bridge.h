// SPICE through the official jar (METRICS.md §7): never computed here. When the user supplies
// spice-1.0.jar (with its lib/ and Stanford CoreNLP 3.6.0 jars beside it) and a Java with Nashorn
// (8-14), we run it and read its per-image All.f; otherwise SPICE is unavailable (null).
#pragma once

#include <optional>
#include <string>

#include "eval/caption_corpus.h"

namespace rscapret::eval {

struct SpiceOptions {
  std::string jar;          // --spice-jar, else $RSCAPRET_SPICE_JAR; empty: unavailable
  std::string java = "java";  // $RSCAPRET_JAVA overrides
};

// Per-image F-scores and their np.mean, or nullopt with `why` set (no jar, java failed, bad output).
std::optional<MetricScores> spice_score(const CaptionCorpus& corpus, SpiceOptions opt, std::string* why);

}  // namespace rscapret::eval
