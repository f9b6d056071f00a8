// CIDEr-D as pycocoevalcap's Cider (METRICS.md §5): n = 4, sigma = 6, idf from the references of the
// evaluated images only, clipped numerator, Gaussian length penalty on bigram counts, x10;
// corpus = np.mean of image scores.
#pragma once

#include "eval/caption_corpus.h"

namespace rscapret::eval {

MetricScores cider_d_score(const CaptionCorpus& corpus);

}  // namespace rscapret::eval
