// PTB tokenization against the real Stanford PTBTokenizer 3.4.1 + pycocoevalcap filter.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "eval/ptb_tokenizer.h"
#include "eval/text_util.h"
#include "tests/eval/oracle.h"

using rscapret::eval::ptb_tokenize;

TEST(PtbTokenizer, EveryOracleCaption) {
  RSCAPRET_REQUIRE_SHARED("metrics/oracle_cases.json");
  const auto oracle = rscapret::testing::load_oracle();
  int n = 0;
  for (const auto& corpus : oracle["corpora"])
    for (const auto& im : corpus["images"]) {
      EXPECT_EQ(ptb_tokenize(im["candidate_raw"].get<std::string>()), im["candidate_tok"].get<std::string>());
      for (size_t k = 0; k < im["references_raw"].size(); ++k, ++n)
        EXPECT_EQ(ptb_tokenize(im["references_raw"][k].get<std::string>()),
                  im["references_tok"][k].get<std::string>());
      ++n;
    }
  std::printf("%d captions tokenized\n", n);
}

// Hand-made cases, each checked with PTBTokenizer 3.4.1 (-preserveLines -lowerCase) + the filter.
TEST(PtbTokenizer, HandCases) {
  const std::pair<const char*, const char*> cases[] = {
      {"Many buildings and green trees are around a playground.", "many buildings and green trees are around a playground"},
      {"It's a piece of yellow desert; there are many ripples!", "it 's a piece of yellow desert there are many ripples"},
      {"Many green farm-lands are next to each other -- near a road...", "many green farm-lands are next to each other near a road"},
      {"A stadium (with a green field) is surrounded by a \"red\" track.", "a stadium -lrb- with a green field -rrb- is surrounded by a red track"},
      {"There are 12 white storage-tanks: 3.5 m high, 1,000 m2 in total.", "there are 12 white storage-tanks 3.5 m high 1,000 m2 in total"},
      {"  A   church\tis here .  ", "a church is here"},
      {"The river's bank isn't green", "the river 's bank is n't green"},
      {"the trees' shadows [left] {right}", "the trees shadows -lsb- left -rsb- -lcb- right -rcb-"},
      {"It costs $5, 10% off #1", "it costs $ 5 10 % off # 1"},
      {"a grey road in the u.s. near\nthe sea", "a grey road in the u.s. near the sea"},
      {"What?! Wow!!", "what ?! wow !!"},
      {"...", ""},
      {"", ""},
  };
  for (const auto& [raw, tok] : cases) EXPECT_EQ(ptb_tokenize(raw), tok) << raw;
}

// Every raw caption of UCM-Captions and Sydney-Captions against the real PTBTokenizer, when its jar
// is given: RSCAPRET_PTB_JAR=/path/to/stanford-corenlp-3.4.1.jar (from `pip download pycocoevalcap`).
// The captions go to java in one batch, one per line, as pycocoevalcap's wrapper sends them.
TEST(PtbTokenizer, DatasetCaptionsAgainstRealTokenizer) {
  const char* jar = std::getenv("RSCAPRET_PTB_JAR");
  if (!jar || !std::filesystem::exists(jar))
    GTEST_SKIP() << "set RSCAPRET_PTB_JAR to stanford-corenlp-3.4.1.jar (and have java) to run";
  for (const char* rel : {"data/ucm/dataset_ucm.json", "data/sydney/dataset_sydney_modified.json"}) {
    if (!std::filesystem::exists(rscapret::testing::shared_path(rel))) continue;
    std::ifstream f(rscapret::testing::shared_path(rel));
    const auto ds = nlohmann::json::parse(f);
    std::vector<std::string> raw;
    for (const auto& im : ds["images"])
      for (const auto& s : im["sentences"]) {
        std::string r = s["raw"];
        for (char& c : r) if (c == '\n') c = ' ';
        raw.push_back(r);
      }
    const auto dir = std::filesystem::temp_directory_path();
    const auto in = dir / "rscapret_ptb_in.txt", out = dir / "rscapret_ptb_out.txt";
    {
      std::ofstream o(in);
      for (size_t i = 0; i < raw.size(); ++i) o << raw[i] << (i + 1 < raw.size() ? "\n" : "");
    }
    const std::string cmd = std::string("java -cp '") + jar +
                            "' edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase '" +
                            in.string() + "' > '" + out.string() + "' 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream res(out);
    std::string line;
    size_t i = 0, bad = 0;
    for (; i < raw.size() && std::getline(res, line); ++i) {
      // the wrapper: rstrip, split on ' ', drop the 17 punctuation strings
      std::string want;
      for (const auto& t : rscapret::eval::split_space(line.substr(0, line.find_last_not_of(" \t\r\n") + 1))) {
        static const std::set<std::string> drop = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".",
                                                   "?", "!", ",", ":", "-", "--", "...", ";"};
        if (t.empty() || drop.count(t)) continue;
        want += (want.empty() ? "" : " ") + t;
      }
      const std::string got = ptb_tokenize(raw[i]);
      if (got != want && ++bad <= 10) ADD_FAILURE() << rel << " #" << i << ": '" << raw[i] << "' -> '" << got << "' want '" << want << "'";
    }
    EXPECT_EQ(i, raw.size());
    std::printf("%s: %zu captions, %zu differ from PTBTokenizer\n", rel, i, bad);
  }
}
