// `rscapret score`: caption metrics of a JSON file of candidates and references (eval/score_report.h).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "app/commands.h"
#include "eval/score_report.h"
#include "tensor/error.h"

namespace rscapret::app {

void add_score_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("score", "BLEU-1..4, METEOR, ROUGE-L, CIDEr (and SPICE via its jar) as pycocoevalcap");
  struct Opts {
    std::string input;
    eval::ScoreOptions score;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--input", o->input, "JSON {\"images\": [{\"id\", \"candidate\", \"references\"}]}")->required();
  cmd->add_option("--meteor-data", o->score.meteor_data,
                  "METEOR data folder (function/, synonym/, optional paraphrase-en.gz); default "
                  "$RSCAPRET_METEOR_DATA or meteor-data/ next to the program");
  cmd->add_option("--meteor-paraphrase", o->score.meteor_paraphrase, "paraphrase-en.gz of the official package");
  cmd->add_option("--spice-jar", o->score.spice_jar, "official spice-1.0.jar (default $RSCAPRET_SPICE_JAR)");
  cmd->callback([o] {
    std::ifstream f(o->input);
    RS_CHECK(f.good(), IOError, "score", "cannot read ", o->input);
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(f);
    } catch (const nlohmann::json::parse_error& e) {
      throw FormatError(cat("[score] ", o->input, " is not valid JSON: ", e.what()));
    }
    std::vector<nlohmann::json> ids;
    eval::CaptionCorpus raw;
    eval::parse_score_input(doc, o->input, ids, raw);
    std::vector<std::string> notes;
    const auto report = eval::score_report(ids, raw, o->score, notes);
    for (const auto& n : notes) std::fprintf(stderr, "rscapret score: %s\n", n.c_str());
    std::cout << report.dump(1) << "\n";
  });
}

}  // namespace rscapret::app
