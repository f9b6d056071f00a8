// METEOR 1.5 as coco-caption runs it (`-l en -norm`, task rank; METRICS.md §6): each hypothesis is
// scored against every reference and the best reference's statistics are kept; the corpus score is
// computed from the summed statistics, not the mean of image scores.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "eval/caption_corpus.h"
#include "eval/meteor_aligner.h"
#include "eval/meteor_data.h"

namespace rscapret::eval {

// Meteor's 23 statistics (MeteorStats.toString order): t, r, tf, rf, 4 x (tc, rc, tfm, rfm),
// chunks, test word matches, reference word matches.
using MeteorStats = std::array<double, 23>;

MeteorStats meteor_stats_of(const MeteorAlignment& a);
double meteor_score_from_stats(const MeteorStats& s);  // computeMetrics (alpha .85, beta .2, gamma .6, delta .75)
void meteor_add_stats(MeteorStats& total, const MeteorStats& s);  // MeteorStats.addStats

struct MeteorResult {
  MetricScores scores;
  std::vector<MeteorStats> stats;  // best reference's statistics per image
  bool paraphrase_used = false;
};

class MeteorScorer {
 public:
  explicit MeteorScorer(std::shared_ptr<MeteorData> data) : data_(std::move(data)) {}
  // use_paraphrase=false gives METEOR_nopara; true loads the table if the data has one.
  MeteorResult score(const CaptionCorpus& corpus, bool use_paraphrase = true);

 private:
  std::shared_ptr<MeteorData> data_;
};

}  // namespace rscapret::eval
