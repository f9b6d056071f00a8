// The `rscapret score` report: raw captions in, pycocoevalcap's metric keys out (issue #6).
// Input  {"images": [{"id": ..., "candidate": "...", "references": ["...", ...]}]}
// Output {"corpus": {Bleu_1..4, METEOR, ROUGE_L, CIDEr, SPICE}, "images": [{"id", same keys}]}
// with null for an unavailable metric. Captions are PTB-tokenized first (ptb_tokenizer.h).
// Documented scores: an empty candidate scores 0 on every metric; an image without references
// is an error (pycocoevalcap asserts), as are duplicate ids and malformed JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/caption_corpus.h"

namespace rscapret::eval {

struct ScoreOptions {
  std::string meteor_data;        // folder; empty: find_meteor_data()
  std::string meteor_paraphrase;  // paraphrase-en.gz; empty: looked up in the data folder
  bool meteor = true;
  std::string spice_jar;          // empty: $RSCAPRET_SPICE_JAR or unavailable
};

// Parses the input document; throws FormatError naming `source` and the offending image.
void parse_score_input(const nlohmann::json& doc, const std::string& source, std::vector<nlohmann::json>& ids,
                       CaptionCorpus& raw);

// Scores raw captions. `notes` receives why a metric is null (and other remarks).
nlohmann::json score_report(const std::vector<nlohmann::json>& ids, const CaptionCorpus& raw,
                            const ScoreOptions& opt, std::vector<std::string>& notes);

}  // namespace rscapret::eval
