// rscapret tokenize --tokenizer FILE [--kind llama|clip] [--decode]
// JSON lines on stdin: {"text": ...} -> {"ids": [...], "pieces": [...]}; with --decode,
// {"ids": [...]} -> {"text": ...}. LLaMA ids come without BOS; CLIP ids with start and end,
// unpadded.
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "models/tokenizers/clip_tokenizer.h"
#include "models/tokenizers/llama_tokenizer.h"
#include "tensor/error.h"

namespace rscapret::app {
namespace {

struct TokenizeOptions {
  std::string path;
  std::string kind;  // "", "llama" or "clip"
  bool decode = false;
};

// CLIP files: the .gz merges, merges/vocab text, or a .json with "</w>" spellings.
std::string guess_kind(const std::string& path) {
  const std::string p = path;
  auto ends = [&](const std::string& s) { return p.size() >= s.size() && p.compare(p.size() - s.size(), s.size(), s) == 0; };
  if (ends(".gz") || ends(".txt") || ends("vocab.json")) return "clip";
  if (ends(".json")) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f) {
      std::string head(1 << 16, '\0');
      head.resize(std::fread(head.data(), 1, head.size(), f));
      std::fclose(f);
      if (head.find("</w>") != std::string::npos) return "clip";
    }
  }
  return "llama";
}

void run_tokenize(const TokenizeOptions& o) {
  const std::string kind = o.kind.empty() ? guess_kind(o.path) : o.kind;
  std::optional<tokenizers::LlamaTokenizer> llama;
  std::optional<tokenizers::ClipTokenizer> clip;
  if (kind == "clip") clip.emplace(tokenizers::ClipTokenizer::load(o.path));
  else llama.emplace(tokenizers::LlamaTokenizer::load(o.path));

  std::string line;
  size_t lineno = 0;
  while (std::getline(std::cin, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json in;
    try {
      in = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw ValueError(cat("[tokenize] stdin line ", lineno, ": not JSON: ", e.what()));
    }
    nlohmann::json out;
    if (o.decode) {
      RS_CHECK(in.is_object() && in.contains("ids") && in["ids"].is_array(), ValueError, "tokenize",
               "stdin line ", lineno, ": expected {\"ids\": [...]}");
      std::vector<int32_t> ids;
      for (const auto& v : in["ids"]) {
        RS_CHECK(v.is_number_integer(), ValueError, "tokenize", "stdin line ", lineno,
                 ": ids must be integers");
        ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
      }
      out["text"] = llama ? llama->decode(ids) : clip->decode(ids);
    } else {
      RS_CHECK(in.is_object() && in.contains("text") && in["text"].is_string(), ValueError,
               "tokenize", "stdin line ", lineno, ": expected {\"text\": \"...\"}");
      const std::string text = in["text"];
      const std::vector<int32_t> ids = llama ? llama->encode(text) : clip->encode(text);
      nlohmann::json pieces = nlohmann::json::array();
      for (const int32_t id : ids) pieces.push_back(llama ? llama->piece(id) : clip->token(id));
      out["ids"] = ids;
      out["pieces"] = pieces;
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  std::cout.flush();
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Tokenize JSON lines from stdin (LLaMA or CLIP)");
  cmd->add_option("--tokenizer", opts->path,
                  "tokenizer.model, tokenizer.json, tok512.bin (LLaMA) or "
                  "bpe_simple_vocab_16e6.txt.gz, vocab.json, tokenizer.json (CLIP)")
      ->required();
  cmd->add_option("--kind", opts->kind, "llama or clip (default: from the file)")
      ->check(CLI::IsMember({"llama", "clip"}));
  cmd->add_flag("--decode", opts->decode, "read {\"ids\": [...]} and write {\"text\": ...}");
  cmd->callback([opts] { run_tokenize(*opts); });
}

}  // namespace rscapret::app
