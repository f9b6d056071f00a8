#include "eval/score_report.h"

#include <set>

#include "eval/bleu.h"
#include "eval/cider.h"
#include "eval/meteor.h"
#include "eval/ptb_tokenizer.h"
#include "eval/rouge.h"
#include "eval/spice_bridge.h"
#include "tensor/error.h"

namespace rscapret::eval {

void parse_score_input(const nlohmann::json& doc, const std::string& src, std::vector<nlohmann::json>& ids,
                       CaptionCorpus& raw) {
  RS_CHECK(doc.is_object() && doc.contains("images"), FormatError, "score", src,
           ": expected an object with an \"images\" array");
  const auto& images = doc["images"];
  RS_CHECK(images.is_array(), FormatError, "score", src, ": \"images\" must be an array");
  RS_CHECK(!images.empty(), FormatError, "score", src, ": \"images\" is empty");
  std::set<std::string> seen;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& im = images[i];
    const std::string where = src + ": images[" + std::to_string(i) + "]";
    RS_CHECK(im.is_object(), FormatError, "score", where, " must be an object");
    RS_CHECK(im.contains("id") && (im["id"].is_string() || im["id"].is_number_integer()), FormatError, "score",
             where, " needs an \"id\" (string or integer)");
    RS_CHECK(seen.insert(im["id"].dump()).second, FormatError, "score", where, ": duplicate id ", im["id"].dump());
    RS_CHECK(im.contains("candidate") && im["candidate"].is_string(), FormatError, "score", where,
             " (id ", im["id"].dump(), ") needs a \"candidate\" string");
    RS_CHECK(im.contains("references") && im["references"].is_array(), FormatError, "score", where,
             " (id ", im["id"].dump(), ") needs a \"references\" array of strings");
    RS_CHECK(!im["references"].empty(), FormatError, "score", where, " (id ", im["id"].dump(),
             ") has no references; every image needs at least one");
    std::vector<std::string> refs;
    for (const auto& r : im["references"]) {
      RS_CHECK(r.is_string(), FormatError, "score", where, " (id ", im["id"].dump(), "): references must be strings");
      refs.push_back(r.get<std::string>());
    }
    ids.push_back(im["id"]);
    raw.candidates.push_back(im["candidate"].get<std::string>());
    raw.references.push_back(std::move(refs));
  }
}

nlohmann::json score_report(const std::vector<nlohmann::json>& ids, const CaptionCorpus& raw,
                            const ScoreOptions& opt, std::vector<std::string>& notes) {
  CaptionCorpus tok;
  for (size_t i = 0; i < raw.size(); ++i) {
    tok.candidates.push_back(ptb_tokenize(raw.candidates[i]));
    std::vector<std::string> refs;
    for (const auto& r : raw.references[i]) refs.push_back(ptb_tokenize(r));
    tok.references.push_back(std::move(refs));
  }
  nlohmann::json corpus = nlohmann::json::object();
  std::vector<nlohmann::json> images(raw.size(), nlohmann::json::object());
  for (size_t i = 0; i < raw.size(); ++i) images[i]["id"] = ids[i];
  auto put = [&](const char* key, const MetricScores* s) {
    corpus[key] = s ? nlohmann::json(s->corpus) : nlohmann::json(nullptr);
    for (size_t i = 0; i < images.size(); ++i)
      images[i][key] = s ? nlohmann::json(s->images[i]) : nlohmann::json(nullptr);
  };
  const auto bleu = bleu_score(tok);
  for (int k = 0; k < 4; ++k) put(("Bleu_" + std::to_string(k + 1)).c_str(), &bleu.bleu[k]);

  std::optional<MetricScores> meteor;
  if (opt.meteor) {
    std::string why, dir = opt.meteor_data.empty() ? find_meteor_data(&why) : opt.meteor_data;
    if (dir.empty()) {
      notes.push_back("METEOR is null: " + why);
    } else {
      auto data = MeteorData::load(dir, opt.meteor_paraphrase);
      const auto res = MeteorScorer(data).score(tok, true);
      meteor = res.scores;
      if (!res.paraphrase_used)
        notes.push_back("METEOR computed without the paraphrase stage (no paraphrase-en.gz in " + dir +
                        "); it can be lower than the official METEOR");
    }
  }
  put("METEOR", meteor ? &*meteor : nullptr);
  const auto rouge = rouge_l_score(tok);
  put("ROUGE_L", &rouge);
  const auto cider = cider_d_score(tok);
  put("CIDEr", &cider);
  std::string why;
  const auto spice = spice_score(tok, SpiceOptions{opt.spice_jar}, &why);
  if (!spice) notes.push_back("SPICE is null: " + why);
  put("SPICE", spice ? &*spice : nullptr);
  return {{"corpus", corpus}, {"images", images}};
}

}  // namespace rscapret::eval
