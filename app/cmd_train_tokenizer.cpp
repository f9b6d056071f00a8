// `rscapret train tokenizer --data JSON[:IMAGE_ROOT] [...] --kind llama|clip --vocab-size N --out DIR`:
// learns a BPE tokenizer from the raw captions of one split (default train) of one or more Karpathy
// caption files. llama writes DIR/tokenizer.json, clip writes DIR/vocab.json + DIR/merges.txt (see
// models/tokenizers/bpe_trainer.h). The written files are loaded back with our loaders, and the
// summary's tokens-per-caption is measured with them (it must equal the trainer's own count).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "models/tokenizers/bpe_trainer.h"
#include "models/tokenizers/clip_tokenizer.h"
#include "models/tokenizers/llama_tokenizer.h"
#include "tensor/error.h"
#include "train/data/caption_dataset.h"

namespace rscapret::app {

void add_train_tokenizer_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("tokenizer", "train a BPE tokenizer (LLaMA tokenizer.json or CLIP vocab.json + "
                                                "merges.txt) on the captions of a dataset");
  struct Opts {
    std::vector<std::string> data;
    std::string split = "train", kind = "llama", out;
    tokenizers::BpeTrainOptions t;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "caption dataset JSON[:IMAGE_ROOT] or NAME=JSON:IMAGE_ROOT (repeatable)")
      ->required();
  cmd->add_option("--split", o->split, "split whose captions are used (default train; 'all': every split)");
  cmd->add_option("--kind", o->kind, "llama (tokenizer.json) or clip (vocab.json + merges.txt); default llama")
      ->check(CLI::IsMember({"llama", "clip"}));
  cmd->add_option("--vocab-size", o->t.vocab_size, "total pieces incl. specials and bytes (default 1024; 0: no limit)");
  cmd->add_option("--merges", o->t.max_merges, "at most this many merges (default: no limit besides --vocab-size)");
  cmd->add_option("--min-pair-count", o->t.min_pair_count, "stop when no pair occurs this often (default 2)");
  cmd->add_option("--out", o->out, "output folder")->required();
  cmd->callback([o] {
    std::vector<data::CaptionSource> sources;
    for (const std::string& d : o->data) {
      // The image root does not matter here, so JSON alone is accepted (root: the JSON's folder).
      const bool has_root = d.find(':') != std::string::npos;
      std::string spec = d;
      if (!has_root) {
        const std::string parent = std::filesystem::path(d).parent_path().string();
        spec += ":" + (parent.empty() ? std::string(".") : parent);
      }
      sources.push_back(data::parse_caption_source(spec));
    }
    std::vector<std::string> splits;
    if (o->split != "all") splits.push_back(o->split);
    const data::CaptionDataset ds = data::CaptionDataset::load(sources, splits);
    std::vector<std::string> texts;
    for (const auto& s : ds.samples())
      for (const auto& c : s.captions) texts.push_back(c);
    RS_CHECK(!texts.empty(), ValueError, "train tokenizer", "no captions in split '", o->split, "' of ",
             o->data.size(), " dataset file(s)");

    const std::filesystem::path out = o->out;
    tokenizers::BpeTrainStats st;
    double measured = 0;  // tokens per caption, as our loader encodes with the written files
    std::string written;
    if (o->kind == "llama") {
      const auto files = tokenizers::train_llama_tokenizer(texts, o->t);
      tokenizers::write_llama_tokenizer(files, out);
      st = files.stats;
      const auto tok = tokenizers::LlamaTokenizer::load(out / "tokenizer.json");
      for (const auto& t : texts) measured += double(tok.encode(t).size());
      written = (out / "tokenizer.json").string();
    } else {
      const auto files = tokenizers::train_clip_tokenizer(texts, o->t);
      tokenizers::write_clip_tokenizer(files, out);
      st = files.stats;
      const auto tok = tokenizers::ClipTokenizer::load(out / "vocab.json");
      for (const auto& t : texts) measured += double(tok.encode(t).size() - 2);  // without start/end
      written = (out / "vocab.json").string() + " + merges.txt";
    }
    measured /= double(texts.size());
    RS_ASSERT(std::fabs(measured - st.tokens_per_text) < 1e-9,
              "train tokenizer: the loader encodes to ", measured, " tokens per caption, the trainer counted ",
              st.tokens_per_text);
    const std::string parts =
        o->kind == "llama" ? cat("3 special + 256 byte + ", st.base_symbols, " character pieces + ", st.merges, " merges")
                           : cat("512 byte symbols + ", st.merges, " merges + 2 specials");
    std::printf("%s tokenizer: %lld pieces (%s), %lld captions, %lld words (%lld distinct), coverage %.2f%% "
                "of words are one token, %.2f tokens per caption -> %s\n",
                o->kind.c_str(), (long long)st.pieces, parts.c_str(), (long long)st.texts, (long long)st.words,
                (long long)st.distinct_words, 100.0 * st.coverage, measured, written.c_str());
  });
}

}  // namespace rscapret::app
