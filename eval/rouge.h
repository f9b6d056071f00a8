// ROUGE-L as pycocoevalcap's Rouge (METRICS.md §4): beta 1.2, best precision and best recall over
// the references taken independently, single-space tokens, corpus = np.mean of image scores.
#pragma once

#include "eval/caption_corpus.h"

namespace rscapret::eval {

double rouge_l_image(const std::string& candidate, const std::vector<std::string>& refs);
MetricScores rouge_l_score(const CaptionCorpus& corpus);

}  // namespace rscapret::eval
