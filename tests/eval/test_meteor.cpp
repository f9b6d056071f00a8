// METEOR 1.5 against the rebuilt scorer with an empty paraphrase table (METEOR_nopara, oracle) and,
// when the official package's table is given, against the official jar's numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "eval/meteor.h"
#include "eval/meteor_normalizer.h"
#include "tests/eval/oracle.h"

namespace rt = rscapret::testing;
namespace eval = rscapret::eval;

namespace {
// The tolerance for METEOR_nopara; Java Math.pow may differ from libm pow by an ulp, the
// rest is the same double arithmetic, so the error seen is far below it.
constexpr double kTol = 1e-6;

std::shared_ptr<eval::MeteorData> shared_meteor_data() {
  return eval::MeteorData::load(rt::shared_path("metrics/meteor-data").string());
}

std::string stats_string(const eval::MeteorStats& s) {
  std::ostringstream os;
  for (size_t i = 0; i < s.size(); ++i) os << (i ? " " : "") << s[i] << ".0";
  return os.str();
}
}  // namespace

TEST(Meteor, NoParaphraseEveryOracleCorpus) {
  RSCAPRET_REQUIRE_SHARED("metrics/meteor-data/synonym/english.synsets");
  const auto oracle = rt::load_oracle();
  eval::MeteorScorer scorer(shared_meteor_data());
  double worst = 0;
  int n = 0;
  for (const auto& corpus : oracle["corpora"]) {
    const std::string name = corpus["corpus"];
    const auto res = scorer.score(rt::oracle_corpus(corpus), /*use_paraphrase=*/false);
    const double want = corpus["corpus_scores"]["METEOR_nopara"];
    worst = std::max(worst, std::abs(res.scores.corpus - want));
    EXPECT_NEAR(res.scores.corpus, want, kTol) << name;
    for (size_t i = 0; i < res.stats.size(); ++i, ++n) {
      const auto& im = corpus["images"][i];
      const std::string id = name + "/" + im["image_id"].get<std::string>();
      EXPECT_EQ(stats_string(res.stats[i]), im["meteor_stats_nopara"].get<std::string>()) << id;
      const double w = im["scores"]["METEOR_nopara"];
      worst = std::max(worst, std::abs(res.scores.images[i] - w));
      EXPECT_NEAR(res.scores.images[i], w, kTol) << id;
    }
  }
  std::printf("%d images: largest METEOR_nopara error %.3g (tolerance %.0e)\n", n, worst, kTol);
}

TEST(Meteor, NlgEvalExampleNoParaphrase) {
  RSCAPRET_REQUIRE_SHARED("metrics/meteor-data/synonym/english.synsets");
  const auto oracle = rt::load_oracle();
  eval::MeteorScorer scorer(shared_meteor_data());
  for (const auto& ex : oracle["external_checks"]) {
    eval::CaptionCorpus c;
    for (const auto& id : ex["image_order"]) {
      c.candidates.push_back(ex["candidate_tok"][id.get<std::string>()][0]);
      c.references.push_back(ex["references_tok"][id.get<std::string>()].get<std::vector<std::string>>());
    }
    const auto res = scorer.score(c, false);
    EXPECT_NEAR(res.scores.corpus, ex["ours"]["METEOR_nopara"].get<double>(), kTol);
    for (size_t i = 0; i < 2; ++i)
      EXPECT_NEAR(res.scores.images[i], ex["ours_per_image"]["METEOR_nopara"][i].get<double>(), kTol);
  }
}

TEST(Meteor, Normalizer) {
  const eval::NonbreakingPrefixes nbp = {{"Mr", false}, {"No", true}};
  EXPECT_EQ(eval::meteor_normalize("a  red-roofed house", nbp), "a red roofed house");
  EXPECT_EQ(eval::meteor_normalize("it's in the U.S. now.", nbp), "it 's in the us now .");
  EXPECT_EQ(eval::meteor_normalize("1,000 m2, 3.5 m -- high", nbp), "1,000 m2 , 3.5 m - high");
  EXPECT_EQ(eval::meteor_normalize("-lrb- trees -rrb-", nbp), "-lrb- trees -rrb-");
  EXPECT_EQ(eval::meteor_normalize("Mr. Smith", nbp), "mr. smith");
  EXPECT_EQ(eval::meteor_normalize("wait...", nbp), "wait ...");
}

TEST(Meteor, EmptyCandidateScoresZero) {
  RSCAPRET_REQUIRE_SHARED("metrics/meteor-data/synonym/english.synsets");
  eval::MeteorScorer scorer(shared_meteor_data());
  eval::CaptionCorpus c;
  c.candidates = {"", "a green tree"};
  c.references = {{"a red house"}, {"a green tree"}};
  const auto res = scorer.score(c, false);
  EXPECT_EQ(res.scores.images[0], 0.0);
  EXPECT_GT(res.scores.images[1], 0.99);
}
