// BLEU-1..4 as pycocoevalcap's Bleu(4) with option 'closest' (METRICS.md §3).
#pragma once

#include <array>

#include "eval/caption_corpus.h"

namespace rscapret::eval {

struct BleuStats {
  double testlen = 0, reflen = 0;  // reflen: the closest reference length (ties: shorter)
  std::array<double, 4> guess{}, correct{};
};

// Statistics of one candidate against its references (words = str.split()).
BleuStats bleu_image_stats(const std::string& candidate, const std::vector<std::string>& refs);

// BLEU_1..4 from (summed) statistics, with pycocoevalcap's tiny/small smoothing and brevity penalty.
std::array<double, 4> bleu_from_stats(const BleuStats& s);

struct BleuScores {
  std::array<MetricScores, 4> bleu;  // Bleu_1..Bleu_4
  BleuStats total;                   // summed statistics (corpus)
};
BleuScores bleu_score(const CaptionCorpus& corpus);

}  // namespace rscapret::eval
