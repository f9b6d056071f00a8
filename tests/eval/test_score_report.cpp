// The score report (input checks, null metrics) and full METEOR against the official jar's numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "eval/meteor.h"
#include "eval/ptb_tokenizer.h"
#include "eval/score_report.h"
#include "eval/spice_bridge.h"
#include "tensor/error.h"
#include "tests/eval/oracle.h"

namespace rt = rscapret::testing;
namespace eval = rscapret::eval;
using nlohmann::json;

namespace {
json run(const json& doc, eval::ScoreOptions opt, std::vector<std::string>* notes_out = nullptr) {
  std::vector<json> ids;
  eval::CaptionCorpus raw;
  eval::parse_score_input(doc, "input.json", ids, raw);
  std::vector<std::string> notes;
  auto r = eval::score_report(ids, raw, opt, notes);
  if (notes_out) *notes_out = notes;
  return r;
}
}  // namespace

TEST(ScoreReport, MalformedInputGivesClearErrors) {
  eval::ScoreOptions opt;
  opt.meteor = false;
  const json bad[] = {
      json::array(),
      {{"imgs", json::array()}},
      {{"images", json::object()}},
      {{"images", json::array()}},
      {{"images", {{{"candidate", "a"}, {"references", {"a"}}}}}},
      {{"images", {{{"id", 1}, {"references", {"a"}}}}}},
      {{"images", {{{"id", 1}, {"candidate", "a"}, {"references", json::array()}}}}},
      {{"images", {{{"id", 1}, {"candidate", "a"}, {"references", {1}}}}}},
      {{"images", {{{"id", 1}, {"candidate", "a"}, {"references", {"a"}}}, {{"id", 1}, {"candidate", "b"}, {"references", {"b"}}}}}},
  };
  for (const auto& doc : bad) {
    try {
      run(doc, opt);
      ADD_FAILURE() << "accepted " << doc.dump();
    } catch (const rscapret::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("input.json"), std::string::npos) << e.what();
    }
  }
}

TEST(ScoreReport, KeysNullsAndEmptyCandidate) {
  eval::ScoreOptions opt;
  opt.meteor = false;
  setenv("RSCAPRET_SPICE_JAR", "", 1);
  unsetenv("RSCAPRET_SPICE_JAR");
  const json doc = {{"images",
                     {{{"id", "a"}, {"candidate", "A red house."}, {"references", {"A red house.", "A house."}}},
                      {{"id", 7}, {"candidate", ""}, {"references", {"Some trees."}}}}}};
  std::vector<std::string> notes;
  const json r = run(doc, opt, &notes);
  for (const char* k : {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE"}) {
    EXPECT_TRUE(r["corpus"].contains(k)) << k;
    EXPECT_TRUE(r["images"][0].contains(k)) << k;
  }
  EXPECT_TRUE(r["corpus"]["SPICE"].is_null());
  EXPECT_TRUE(r["corpus"]["METEOR"].is_null());
  EXPECT_EQ(r["images"][1]["id"], 7);
  for (const char* k : {"Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr"}) EXPECT_EQ(r["images"][1][k].get<double>(), 0.0) << k;
  EXPECT_NEAR(r["images"][0]["Bleu_1"].get<double>(), 1.0, 1e-9);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes.back().find("SPICE"), std::string::npos);
}

TEST(ScoreReport, SpiceMissingJarIsUnavailable) {
  eval::CaptionCorpus c{{"a b"}, {{"a b"}}};
  std::string why;
  EXPECT_FALSE(eval::spice_score(c, {"/nonexistent/spice-1.0.jar"}, &why).has_value());
  EXPECT_NE(why.find("not found"), std::string::npos) << why;
}

// The bridge's contract with the official jar (`java -jar spice-1.0.jar IN -cache DIR -out OUT
// -subset -silent`, OUT a JSON list of {image_id, scores: {All: {f}}}), checked with a stand-in
// for java that answers in that format: the real jar needs Java 8 and CoreNLP models, absent here.
TEST(ScoreReport, SpiceBridgeParsesTheJarsOutputAndReportsFailures) {
  const auto dir = std::filesystem::temp_directory_path() / "rscapret_fake_spice";
  std::filesystem::create_directories(dir);
  const auto jar = dir / "spice-1.0.jar", java = dir / "java", broken = dir / "java_broken";
  std::ofstream(jar) << "not a real jar";
  std::ofstream(java) << "#!/bin/sh\n"
                         "while [ $# -gt 0 ]; do if [ \"$1\" = -out ]; then out=$2; fi; shift; done\n"
                         "printf '[{\"image_id\": \"0\", \"scores\": {\"All\": {\"f\": 0.25}}},"
                         " {\"image_id\": \"1\", \"scores\": {\"All\": {\"f\": 0.75}}}]' > \"$out\"\n";
  std::ofstream(broken) << "#!/bin/sh\necho 'java.lang.UnsupportedClassVersionError' >&2\nexit 1\n";
  std::filesystem::permissions(java, std::filesystem::perms::owner_all);
  std::filesystem::permissions(broken, std::filesystem::perms::owner_all);
  eval::CaptionCorpus c{{"a b", "c d"}, {{"a b"}, {"c e"}}};
  eval::SpiceOptions opt{jar.string(), java.string()};
  std::string why;
  const auto got = eval::spice_score(c, opt, &why);
  ASSERT_TRUE(got.has_value()) << why;
  EXPECT_DOUBLE_EQ(got->images[0], 0.25);
  EXPECT_DOUBLE_EQ(got->images[1], 0.75);
  EXPECT_DOUBLE_EQ(got->corpus, 0.5);
  opt.java = broken.string();
  EXPECT_FALSE(eval::spice_score(c, opt, &why).has_value());
  EXPECT_NE(why.find("UnsupportedClassVersionError"), std::string::npos) << why;
  std::filesystem::remove_all(dir);
}

// Full METEOR (paraphrase stage on) against the official coco-caption jar on the UCM test split
// (numbers in tests/eval/data/meteor_official_ucm.json, made by
// tools/metrics/make_meteor_official_oracle.py). Needs the official paraphrase table:
// RSCAPRET_METEOR_PARAPHRASE=/path/to/pycocoevalcap/meteor/data/paraphrase-en.gz
TEST(Meteor, OfficialJarWithParaphrasesOnUcm) {
  RSCAPRET_REQUIRE_SHARED("data/ucm/dataset_ucm.json");
  RSCAPRET_REQUIRE_SHARED("metrics/meteor-data/synonym/english.synsets");
  const char* para = std::getenv("RSCAPRET_METEOR_PARAPHRASE");
  if (!para || !std::filesystem::exists(para))
    GTEST_SKIP() << "set RSCAPRET_METEOR_PARAPHRASE to the official data/paraphrase-en.gz "
                    "(pip download pycocoevalcap) to compare with the official METEOR";
  std::ifstream of(std::string(RSCAPRET_SOURCE_DIR) + "/tests/eval/data/meteor_official_ucm.json");
  const json want = json::parse(of);
  std::ifstream df(rt::shared_path("data/ucm/dataset_ucm.json"));
  const json ds = json::parse(df);
  std::vector<json> test;
  for (const auto& im : ds["images"]) if (im["split"] == "test") test.push_back(im);
  ASSERT_EQ(test.size(), want["num_images"].get<size_t>());
  eval::CaptionCorpus c;  // construction documented in the generator
  for (size_t k = 0; k < test.size(); ++k) {
    std::vector<std::string> refs;
    for (const auto& s : test[k]["sentences"]) refs.push_back(eval::ptb_tokenize(s["raw"].get<std::string>()));
    const auto& nb = test[(k + 1) % test.size()]["sentences"];
    c.candidates.push_back(eval::ptb_tokenize(nb[k % nb.size()]["raw"].get<std::string>()));
    c.references.push_back(refs);
  }
  auto data = eval::MeteorData::load(rt::shared_path("metrics/meteor-data").string(), para);
  const auto res = eval::MeteorScorer(data).score(c, true);
  ASSERT_TRUE(res.paraphrase_used);
  // Same double arithmetic as the jar (Math.pow vs pow aside); the jar prints full precision.
  constexpr double kTol = 1e-9;
  EXPECT_NEAR(res.scores.corpus, want["METEOR"].get<double>(), kTol);
  double worst = 0;
  size_t bad = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const double w = want["METEOR_per_image"][i];
    const double err = std::abs(res.scores.images[i] - w);
    worst = std::max(worst, err);
    if (err > kTol && ++bad <= 10)
      ADD_FAILURE() << "image " << i << ": got " << res.scores.images[i] << " want " << w << "\n  hyp: "
                    << c.candidates[i];
  }
  std::printf("official METEOR: corpus %.10f vs %.10f; %zu images, largest error %.3g\n", res.scores.corpus,
              want["METEOR"].get<double>(), c.size(), worst);
}
