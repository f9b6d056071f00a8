// Loads ../shared/metrics/oracle_cases.json (pycocoevalcap reference values, METRICS.md §9).
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/caption_corpus.h"
#include "tests/common/shared_dir.h"

namespace rscapret::testing {

inline nlohmann::json load_oracle() {
  std::ifstream f(shared_path("metrics/oracle_cases.json"));
  return nlohmann::json::parse(f);
}

// The tokenized captions of one oracle corpus, in its image order.
inline eval::CaptionCorpus oracle_corpus(const nlohmann::json& corpus) {
  eval::CaptionCorpus c;
  for (const auto& im : corpus["images"]) {
    c.candidates.push_back(im["candidate_tok"].get<std::string>());
    c.references.push_back(im["references_tok"].get<std::vector<std::string>>());
  }
  return c;
}

}  // namespace rscapret::testing
