// BLEU, ROUGE-L and CIDEr-D against pycocoevalcap's own numbers (oracle_cases.json).
#include <gtest/gtest.h>

#include <cmath>

#include "eval/bleu.h"
#include "eval/cider.h"
#include "eval/rouge.h"
#include "tensor/error.h"
#include "tests/eval/oracle.h"

namespace rt = rscapret::testing;
namespace eval = rscapret::eval;
using rscapret::ValueError;

namespace {
// Double arithmetic in the same order as pycocoevalcap; the 1e-9 of the issue leaves room for
// np.log vs libm log (1 ulp) and nothing else. We also print the largest error seen.
constexpr double kTol = 1e-9;

void expect_close(double got, double want, const std::string& what, double& worst) {
  ASSERT_FALSE(std::isnan(got)) << what;
  const double err = std::abs(got - want);
  worst = std::max(worst, err);
  EXPECT_LE(err, kTol) << what << ": got " << got << " want " << want;
}
}  // namespace

TEST(EvalOracle, BleuRougeCiderEveryCorpus) {
  RSCAPRET_REQUIRE_SHARED("metrics/oracle_cases.json");
  const auto oracle = rt::load_oracle();
  double worst = 0;
  int checked = 0;
  for (const auto& corpus : oracle["corpora"]) {
    const std::string name = corpus["corpus"];
    const auto c = rt::oracle_corpus(corpus);
    const auto bleu = eval::bleu_score(c);
    const auto rouge = eval::rouge_l_score(c);
    const auto cider = eval::cider_d_score(c);
    const auto& cs = corpus["corpus_scores"];
    for (int k = 0; k < 4; ++k)
      expect_close(bleu.bleu[k].corpus, cs["Bleu_" + std::to_string(k + 1)], name + " Bleu", worst);
    expect_close(rouge.corpus, cs["ROUGE_L"], name + " ROUGE_L", worst);
    expect_close(cider.corpus, cs["CIDEr"], name + " CIDEr", worst);
    const auto& st = corpus["bleu_corpus_stats"];
    EXPECT_EQ(bleu.total.testlen, st["testlen"].get<double>()) << name;
    EXPECT_EQ(bleu.total.reflen, st["reflen"].get<double>()) << name;
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(bleu.total.guess[k], st["guess"][k].get<double>()) << name;
      EXPECT_EQ(bleu.total.correct[k], st["correct"][k].get<double>()) << name;
    }
    for (size_t i = 0; i < c.size(); ++i) {
      const auto& im = corpus["images"][i];
      const std::string id = name + "/" + im["image_id"].get<std::string>();
      const auto& sc = im["scores"];
      for (int k = 0; k < 4; ++k)
        expect_close(bleu.bleu[k].images[i], sc["Bleu_" + std::to_string(k + 1)], id + " Bleu", worst);
      expect_close(rouge.images[i], sc["ROUGE_L"], id + " ROUGE_L", worst);
      expect_close(cider.images[i], sc["CIDEr"], id + " CIDEr", worst);
      const auto s = eval::bleu_image_stats(c.candidates[i], c.references[i]);
      EXPECT_EQ(s.reflen, im["bleu_stats"]["reflen"].get<double>()) << id;
      checked += 6;
    }
  }
  std::printf("checked %d per-image values; largest error %.3g (tolerance %.0e)\n", checked, worst, kTol);
}

TEST(EvalOracle, ExternalNlgEvalExample) {
  RSCAPRET_REQUIRE_SHARED("metrics/oracle_cases.json");
  const auto oracle = rt::load_oracle();
  for (const auto& ex : oracle["external_checks"]) {
    eval::CaptionCorpus c;
    for (const auto& id : ex["image_order"]) {
      c.candidates.push_back(ex["candidate_tok"][id.get<std::string>()][0]);
      c.references.push_back(ex["references_tok"][id.get<std::string>()].get<std::vector<std::string>>());
    }
    const auto& ours = ex["ours"];
    double worst = 0;
    const auto bleu = eval::bleu_score(c);
    for (int k = 0; k < 4; ++k)
      expect_close(bleu.bleu[k].corpus, ours["Bleu_" + std::to_string(k + 1)], "Bleu", worst);
    expect_close(eval::rouge_l_score(c).corpus, ours["ROUGE_L"], "ROUGE_L", worst);
    expect_close(eval::cider_d_score(c).corpus, ours["CIDEr"], "CIDEr", worst);
  }
}

TEST(EvalOracle, EdgeCasesAndErrors) {
  eval::CaptionCorpus c;
  c.candidates = {"", "a"};
  c.references = {{"a b c"}, {"a"}};
  const auto bleu = eval::bleu_score(c);
  EXPECT_EQ(bleu.bleu[0].images[0], 0.0);  // empty candidate: brevity penalty underflows to 0
  EXPECT_EQ(eval::rouge_l_score(c).images[0], 0.0);
  EXPECT_EQ(eval::cider_d_score(c).images[0], 0.0);
  c.references[1].clear();
  EXPECT_THROW(eval::bleu_score(c), ValueError);
  EXPECT_THROW(eval::cider_d_score(eval::CaptionCorpus{}), ValueError);
}
